//! The strict BEP 3 decoder, written as `nom` parsers over `&[u8]`.
//!
//! Grammar (anything else is an error):
//! `value := int | bytes | list | dict`, `int := 'i' ('0' | '-'? [1-9][0-9]*) 'e'`,
//! `bytes := ('0' | [1-9][0-9]*) ':' <that many bytes>`, `list := 'l' value* 'e'`,
//! `dict := 'd' (bytes value)* 'e'` with no key twice.
//!
//! Safety against hostile input: nesting depth and the total number of values are limited
//! (see [`DecodeOptions`]); the recursion depth is bounded by the depth limit; nothing is
//! allocated from a length the input claims (byte strings are borrowed, and containers are
//! collected from a shared scratch stack into exactly sized `Vec`s once they are complete).

use nom::IResult;
use nom::bytes::complete::take;
use nom::error::{ErrorKind as NomErrorKind, ParseError};

use crate::error::{Error, ErrorKind};
use crate::value::{Dict, Flags, List, Value};

/// Decodes exactly one value; trailing bytes are an error ([`ErrorKind::TrailingBytes`]).
/// Uses the default [`DecodeOptions`].
///
/// # Errors
/// Any violation of the BEP 3 grammar or of the default limits, with its byte offset.
pub fn decode(input: &[u8]) -> Result<Value<'_>, Error> {
    DecodeOptions::default().decode(input)
}

/// Decodes one value from the start of `input` and returns it with the number of bytes it
/// used; what follows is left to the caller (for example the stray `\n` at the end of many
/// `.torrent` files). Uses the default [`DecodeOptions`].
///
/// # Errors
/// Any violation of the BEP 3 grammar or of the default limits, with its byte offset.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), Error> {
    DecodeOptions::default().decode_prefix(input)
}

/// Limits applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Maximum nesting of lists and dictionaries (default 100, as libtorrent). A top-level
    /// list counts as depth 1. Values above [`DecodeOptions::MAX_DEPTH_CEILING`] are treated as
    /// the ceiling, so the decoder's recursion (and dropping the result) can never exhaust the
    /// stack.
    pub max_depth: usize,
    /// Maximum total number of values (integers, strings, lists, dictionaries and dictionary
    /// keys; default 3,000,000).
    pub max_items: usize,
}

impl DecodeOptions {
    /// Hard upper bound on `max_depth`.
    pub const MAX_DEPTH_CEILING: usize = 512;

    /// Decodes exactly one value; trailing bytes are an error.
    ///
    /// # Errors
    /// Any violation of the grammar or of these limits, with its byte offset.
    pub fn decode<'a>(&self, input: &'a [u8]) -> Result<Value<'a>, Error> {
        let (value, used) = self.decode_prefix(input)?;
        if used != input.len() {
            return Err(Error::new(ErrorKind::TrailingBytes, used));
        }
        Ok(value)
    }

    /// Decodes one value from the start of `input`; returns it and the number of bytes used.
    ///
    /// # Errors
    /// Any violation of the grammar or of these limits, with its byte offset.
    pub fn decode_prefix<'a>(&self, input: &'a [u8]) -> Result<(Value<'a>, usize), Error> {
        let mut parser = Parser::new(input, *self);
        match parser.value(input) {
            Ok((rest, value)) => Ok((value, input.len() - rest.len())),
            Err(e) => Err(to_error(input, e)),
        }
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_depth: 100,
            max_items: 3_000_000,
        }
    }
}

/// Converts a nom error into an [`Error`] with the offset in `input`.
pub(crate) fn to_error(input: &[u8], e: nom::Err<PError>) -> Error {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            Error::new(e.kind, input.len().saturating_sub(e.rest_len))
        }
        // Only complete parsers are used, so nom never asks for more input; report it as the
        // end of input should that ever change.
        nom::Err::Incomplete(_) => Error::new(ErrorKind::UnexpectedEof, input.len()),
    }
}

/// The nom error type: our kind plus how much input was left where it happened.
#[derive(Debug)]
pub(crate) struct PError {
    pub(crate) kind: ErrorKind,
    pub(crate) rest_len: usize,
}

impl PError {
    pub(crate) fn at(rest: &[u8], kind: ErrorKind) -> nom::Err<Self> {
        nom::Err::Failure(Self {
            kind,
            rest_len: rest.len(),
        })
    }

    /// "Unexpected end" on empty input, else "unexpected byte".
    pub(crate) fn unexpected(rest: &[u8]) -> nom::Err<Self> {
        match rest.first() {
            None => Self::at(rest, ErrorKind::UnexpectedEof),
            Some(&b) => Self::at(rest, ErrorKind::UnexpectedByte(b)),
        }
    }
}

impl ParseError<&[u8]> for PError {
    fn from_error_kind(input: &[u8], _kind: NomErrorKind) -> Self {
        Self {
            kind: if input.is_empty() {
                ErrorKind::UnexpectedEof
            } else {
                ErrorKind::UnexpectedByte(input[0])
            },
            rest_len: input.len(),
        }
    }

    fn append(_input: &[u8], _kind: NomErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, PError>;

/// Decoder state for one call: limits left and the scratch stacks containers collect into.
pub(crate) struct Parser<'a> {
    input: &'a [u8],
    pub(crate) depth_left: usize,
    pub(crate) items_left: usize,
    list_scratch: Vec<Value<'a>>,
    dict_scratch: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(input: &'a [u8], opts: DecodeOptions) -> Self {
        Parser {
            input,
            depth_left: opts.max_depth.min(DecodeOptions::MAX_DEPTH_CEILING),
            items_left: opts.max_items,
            list_scratch: Vec::new(),
            dict_scratch: Vec::new(),
        }
    }

    fn offset_of(&self, rest: &[u8]) -> usize {
        self.input.len() - rest.len()
    }

    #[inline]
    pub(crate) fn count_item(&mut self, at: &'a [u8]) -> Result<(), nom::Err<PError>> {
        if self.items_left == 0 {
            return Err(PError::at(at, ErrorKind::ItemLimit));
        }
        self.items_left -= 1;
        Ok(())
    }

    /// `value := int | bytes | list | dict`, dispatched on the first byte.
    pub(crate) fn value(&mut self, i: &'a [u8]) -> PResult<'a, Value<'a>> {
        self.count_item(i)?;
        match i.first() {
            Some(b'i') => {
                let (rest, n) = integer(&i[1..])?;
                Ok((rest, Value::Int(n)))
            }
            Some(b'0'..=b'9') => {
                let (rest, b) = byte_string(i)?;
                Ok((rest, Value::Bytes(b)))
            }
            Some(b'l') => self.list(i),
            Some(b'd') => self.dict(i),
            _ => Err(PError::unexpected(i)),
        }
    }

    #[inline]
    pub(crate) fn enter(&mut self, at: &'a [u8]) -> Result<(), nom::Err<PError>> {
        if self.depth_left == 0 {
            return Err(PError::at(at, ErrorKind::DepthLimit));
        }
        self.depth_left -= 1;
        Ok(())
    }

    /// `list := 'l' value* 'e'`; `start` points at the `l`.
    fn list(&mut self, start: &'a [u8]) -> PResult<'a, Value<'a>> {
        self.enter(start)?;
        let mark = self.list_scratch.len();
        let mut canonical = true;
        let mut i = &start[1..];
        loop {
            match i.first() {
                Some(b'e') => break,
                None => return Err(PError::unexpected(i)),
                Some(_) => {
                    let (rest, v) = self.value(i)?;
                    canonical &= v.is_canonical();
                    self.list_scratch.push(v);
                    i = rest;
                }
            }
        }
        let rest = &i[1..];
        self.depth_left += 1;
        let items = take_tail(&mut self.list_scratch, mark);
        let used = start.len() - rest.len();
        Ok((
            rest,
            Value::List(List {
                items,
                raw: &start[..used],
                offset_flags: Flags::new(self.offset_of(start), true, canonical),
            }),
        ))
    }

    /// `dict := 'd' (bytes value)* 'e'`, no duplicate keys; `start` points at the `d`.
    fn dict(&mut self, start: &'a [u8]) -> PResult<'a, Value<'a>> {
        self.enter(start)?;
        let mark = self.dict_scratch.len();
        let mut sorted = true;
        let mut nested_canonical = true;
        let mut prev: Option<&'a [u8]> = None;
        let mut i = &start[1..];
        loop {
            match i.first() {
                Some(b'e') => break,
                Some(b'0'..=b'9') => {
                    self.count_item(i)?;
                    let key_at = i;
                    let (rest, key) = byte_string(i)?;
                    if let Some(p) = prev {
                        match key.cmp(p) {
                            std::cmp::Ordering::Greater => {}
                            std::cmp::Ordering::Less => sorted = false,
                            std::cmp::Ordering::Equal => {
                                return Err(PError::at(key_at, ErrorKind::DuplicateKey));
                            }
                        }
                    }
                    prev = Some(key);
                    let (rest, v) = self.value(rest)?;
                    nested_canonical &= v.is_canonical();
                    self.dict_scratch.push((key, v));
                    i = rest;
                }
                Some(b'i' | b'l' | b'd') => return Err(PError::at(i, ErrorKind::KeyNotBytes)),
                _ => return Err(PError::unexpected(i)),
            }
        }
        let rest = &i[1..];
        self.depth_left += 1;
        let entries = take_tail(&mut self.dict_scratch, mark);
        if !sorted {
            self.check_duplicates(&entries)?;
        }
        let used = start.len() - rest.len();
        Ok((
            rest,
            Value::Dict(Dict {
                entries,
                raw: &start[..used],
                offset_flags: Flags::new(self.offset_of(start), sorted, sorted && nested_canonical),
            }),
        ))
    }

    /// Duplicate check for a dictionary whose keys were not in order (sorted ones were
    /// checked pairwise while parsing). Reports the later of the two occurrences.
    fn check_duplicates(&self, entries: &[(&'a [u8], Value<'a>)]) -> Result<(), nom::Err<PError>> {
        let mut keys: Vec<(&[u8], usize)> = entries
            .iter()
            .enumerate()
            .map(|(n, (k, _))| (*k, n))
            .collect();
        keys.sort_unstable();
        for pair in keys.windows(2) {
            if pair[0].0 == pair[1].0 {
                let key = pair[1].0;
                // The key borrows from the input: locate its `<len>:` prefix for the offset.
                let content_at = key.as_ptr() as usize - self.input.as_ptr() as usize;
                let prefix = decimal_len(key.len()) + 1;
                let at = content_at.saturating_sub(prefix);
                return Err(PError::at(&self.input[at..], ErrorKind::DuplicateKey));
            }
        }
        Ok(())
    }
}

/// The body of an integer after the `i`: `'0' | '-'? [1-9][0-9]*` then `e`.
#[inline]
pub(crate) fn integer(i: &[u8]) -> PResult<'_, i64> {
    let (negative, digits_at) = match i.first() {
        Some(b'-') => (true, &i[1..]),
        _ => (false, i),
    };
    let n = digits_at.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return Err(match digits_at.first() {
            Some(b'e') => PError::at(digits_at, ErrorKind::InvalidInteger),
            _ => PError::unexpected(digits_at),
        });
    }
    if digits_at[0] == b'0' {
        if n > 1 {
            return Err(PError::at(digits_at, ErrorKind::LeadingZero));
        }
        if negative {
            return Err(PError::at(i, ErrorKind::NegativeZero));
        }
    }
    let magnitude =
        digits_to_u64(&digits_at[..n]).ok_or_else(|| PError::at(i, ErrorKind::IntegerOverflow))?;
    let value = if negative {
        if magnitude > i64::MIN.unsigned_abs() {
            return Err(PError::at(i, ErrorKind::IntegerOverflow));
        }
        0i64.wrapping_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).map_err(|_| PError::at(i, ErrorKind::IntegerOverflow))?
    };
    let rest = &digits_at[n..];
    match rest.first() {
        Some(b'e') => Ok((&rest[1..], value)),
        _ => Err(PError::unexpected(rest)),
    }
}

/// `bytes := ('0' | [1-9][0-9]*) ':' <len bytes>`; the caller saw a digit first.
#[inline]
pub(crate) fn byte_string(i: &[u8]) -> PResult<'_, &[u8]> {
    let n = i.iter().take_while(|b| b.is_ascii_digit()).count();
    if n > 1 && i[0] == b'0' {
        return Err(PError::at(i, ErrorKind::LeadingZero));
    }
    let len = digits_to_u64(&i[..n])
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(|| PError::at(i, ErrorKind::InvalidLength))?;
    let rest = &i[n..];
    match rest.first() {
        Some(b':') => {}
        _ => return Err(PError::unexpected(rest)),
    }
    let body = &rest[1..];
    if len > body.len() {
        // The string would run past the end of the input; report where it starts.
        return Err(PError::at(i, ErrorKind::UnexpectedEof));
    }
    let (rest, bytes) = take(len)(body)?;
    Ok((rest, bytes))
}

/// Moves `scratch[mark..]` into an exactly sized box with one `memcpy` (collecting from
/// `drain` moves element by element and was measured 3x slower for the whole decode).
fn take_tail<T>(scratch: &mut Vec<T>, mark: usize) -> Box<[T]> {
    if scratch.len() == mark {
        Box::default()
    } else if mark == 0 {
        // `split_off(0)` would allocate a replacement of the full capacity; hand over the
        // buffer instead (shrinking it in place) and let the scratch grow again if needed.
        std::mem::take(scratch).into_boxed_slice()
    } else {
        scratch.split_off(mark).into_boxed_slice()
    }
}

/// Parses ASCII digits; `None` on overflow. Up to 19 digits cannot overflow a `u64`.
#[inline]
fn digits_to_u64(digits: &[u8]) -> Option<u64> {
    if digits.len() <= 19 {
        Some(
            digits
                .iter()
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
        )
    } else {
        digits.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }
}

/// Number of decimal digits of `n`.
fn decimal_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}
