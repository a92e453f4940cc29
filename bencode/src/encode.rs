//! The canonical encoder: dictionary keys sorted, shortest integers, into any `BufMut`
//! (`Vec<u8>`, `BytesMut`) or `io::Write`.

use std::collections::BTreeMap;
use std::io;

use bytes::BufMut;

use crate::value::{OwnedValue, Value};

/// Writes `i<v>e`.
pub fn write_int(out: &mut impl BufMut, v: i64) {
    let mut buf = [0u8; 22];
    out.put_slice(format_int(&mut buf, v));
}

/// Writes `<len>:<b>`.
pub fn write_bytes(out: &mut impl BufMut, b: &[u8]) {
    let mut buf = [0u8; 21];
    out.put_slice(format_len(&mut buf, b.len()));
    out.put_slice(b);
}

impl OwnedValue {
    /// Encodes canonically into a new `Vec`.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // An exact pre-pass (`encoded_len`) walks the whole tree twice and was measured to
        // cost more than letting the Vec grow; a bounded look at the top nodes still catches
        // big strings such as `pieces`.
        let mut budget = 64;
        let mut out = Vec::with_capacity(self.len_hint(&mut budget).max(64));
        self.encode_into(&mut out);
        out
    }

    /// Encodes canonically, appending to `out` (a `Vec<u8>`, `BytesMut`, ...).
    pub fn encode_into(&self, out: &mut impl BufMut) {
        encode_owned(self, &mut BufSink(out));
    }

    /// Encodes canonically into an `io::Write`, in chunks of at most 8 KiB.
    ///
    /// # Errors
    /// The first error the writer returns.
    pub fn write_to(&self, w: &mut impl io::Write) -> io::Result<()> {
        let mut sink = IoSink::new(w);
        encode_owned(self, &mut sink);
        sink.finish()
    }

    /// A lower bound on the encoded length from at most `budget` nodes, scalar children first.
    fn len_hint(&self, budget: &mut usize) -> usize {
        if *budget == 0 {
            return 0;
        }
        *budget -= 1;
        match self {
            Self::Int(i) => int_len(*i),
            Self::Bytes(b) => bytes_len(b),
            Self::List(l) => {
                let scalars: usize = l
                    .iter()
                    .filter(|v| !v.is_container())
                    .map(|v| v.len_hint(budget))
                    .sum();
                2 + scalars
                    + l.iter()
                        .filter(|v| v.is_container())
                        .map(|v| v.len_hint(budget))
                        .sum::<usize>()
            }
            Self::Dict(d) => {
                let keys: usize = d.keys().map(|k| bytes_len(k)).sum();
                let scalars: usize = d
                    .values()
                    .filter(|v| !v.is_container())
                    .map(|v| v.len_hint(budget))
                    .sum();
                2 + keys
                    + scalars
                    + d.values()
                        .filter(|v| v.is_container())
                        .map(|v| v.len_hint(budget))
                        .sum::<usize>()
            }
        }
    }

    fn is_container(&self) -> bool {
        matches!(self, Self::List(_) | Self::Dict(_))
    }

    /// The exact number of bytes [`OwnedValue::encode`] produces.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Int(i) => int_len(*i),
            Self::Bytes(b) => bytes_len(b),
            Self::List(l) => 2 + l.iter().map(Self::encoded_len).sum::<usize>(),
            Self::Dict(d) => {
                2 + d
                    .iter()
                    .map(|(k, v)| bytes_len(k) + v.encoded_len())
                    .sum::<usize>()
            }
        }
    }
}

impl Value<'_> {
    /// Encodes canonically (dictionary keys sorted) into a new `Vec`. For a value whose
    /// [`is_canonical`](Value::is_canonical) is true this equals the input bytes it came from.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // Sorting keys never changes the length, so a container's input span is exact.
        let capacity = match self {
            Value::Int(_) => 22,
            Value::Bytes(b) => b.len() + 21,
            Value::List(l) => l.raw().len(),
            Value::Dict(d) => d.raw().len(),
        };
        let mut out = Vec::with_capacity(capacity);
        self.encode_into(&mut out);
        out
    }

    /// Encodes canonically, appending to `out`.
    pub fn encode_into(&self, out: &mut impl BufMut) {
        encode_borrowed(self, &mut BufSink(out));
    }

    /// Encodes canonically into an `io::Write`.
    ///
    /// # Errors
    /// The first error the writer returns.
    pub fn write_to(&self, w: &mut impl io::Write) -> io::Result<()> {
        let mut sink = IoSink::new(w);
        encode_borrowed(self, &mut sink);
        sink.finish()
    }
}

/// Builds a dictionary whose keys are sorted when it is finished. A later value for the same
/// key replaces the earlier one.
///
/// ```
/// use freshet_bencode::DictBuilder;
/// let bytes = DictBuilder::new().str(b"name", "x").int(b"length", 3).finish();
/// assert_eq!(bytes, b"d6:lengthi3e4:name1:xe");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DictBuilder {
    entries: BTreeMap<Vec<u8>, OwnedValue>,
}

impl DictBuilder {
    /// An empty dictionary.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an integer.
    #[must_use]
    pub fn int(self, k: &[u8], v: i64) -> Self {
        self.value(k, OwnedValue::Int(v))
    }

    /// Adds a byte string.
    #[must_use]
    pub fn bytes(self, k: &[u8], v: &[u8]) -> Self {
        self.value(k, OwnedValue::Bytes(v.to_vec()))
    }

    /// Adds a UTF-8 string (as a byte string).
    #[must_use]
    pub fn str(self, k: &[u8], v: &str) -> Self {
        self.bytes(k, v.as_bytes())
    }

    /// Adds any value.
    #[must_use]
    pub fn value(mut self, k: &[u8], v: OwnedValue) -> Self {
        self.entries.insert(k.to_vec(), v);
        self
    }

    /// Adds a nested dictionary.
    #[must_use]
    pub fn dict(self, k: &[u8], d: Self) -> Self {
        self.value(k, d.into_value())
    }

    /// Adds a value only if it is `Some` (handy for optional fields).
    #[must_use]
    pub fn opt(self, k: &[u8], v: Option<OwnedValue>) -> Self {
        match v {
            Some(v) => self.value(k, v),
            None => self,
        }
    }

    /// Encodes the dictionary canonically.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.into_value().encode()
    }

    /// The dictionary as an [`OwnedValue::Dict`].
    #[must_use]
    pub fn into_value(self) -> OwnedValue {
        OwnedValue::Dict(self.entries)
    }
}

/// Where encoded bytes go.
trait Sink {
    fn put(&mut self, b: &[u8]);
    fn put_byte(&mut self, b: u8) {
        self.put(&[b]);
    }
}

struct BufSink<'b, B: BufMut>(&'b mut B);

impl<B: BufMut> Sink for BufSink<'_, B> {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.0.put_slice(b);
    }

    #[inline]
    fn put_byte(&mut self, b: u8) {
        self.0.put_u8(b);
    }
}

/// Buffers small writes and forwards them to an `io::Write`, keeping the first error.
struct IoSink<'w, W: io::Write> {
    w: &'w mut W,
    buf: Vec<u8>,
    err: Option<io::Error>,
}

impl<'w, W: io::Write> IoSink<'w, W> {
    const CHUNK: usize = 8 * 1024;

    fn new(w: &'w mut W) -> Self {
        Self {
            w,
            buf: Vec::with_capacity(Self::CHUNK),
            err: None,
        }
    }

    fn flush_buf(&mut self) {
        if self.err.is_none() && !self.buf.is_empty() {
            if let Err(e) = self.w.write_all(&self.buf) {
                self.err = Some(e);
            }
        }
        self.buf.clear();
    }

    fn finish(mut self) -> io::Result<()> {
        self.flush_buf();
        match self.err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<W: io::Write> Sink for IoSink<'_, W> {
    fn put(&mut self, b: &[u8]) {
        if self.err.is_some() {
            return;
        }
        if self.buf.len() + b.len() > Self::CHUNK {
            self.flush_buf();
            if b.len() > Self::CHUNK {
                if let Err(e) = self.w.write_all(b) {
                    self.err = Some(e);
                }
                return;
            }
        }
        self.buf.extend_from_slice(b);
    }
}

fn put_int(out: &mut impl Sink, v: i64) {
    let mut buf = [0u8; 22];
    out.put(format_int(&mut buf, v));
}

fn put_bytes(out: &mut impl Sink, b: &[u8]) {
    let mut buf = [0u8; 21];
    out.put(format_len(&mut buf, b.len()));
    out.put(b);
}

fn encode_owned(v: &OwnedValue, out: &mut impl Sink) {
    match v {
        OwnedValue::Int(i) => put_int(out, *i),
        OwnedValue::Bytes(b) => put_bytes(out, b),
        OwnedValue::List(l) => {
            out.put_byte(b'l');
            for item in l {
                encode_owned(item, out);
            }
            out.put_byte(b'e');
        }
        OwnedValue::Dict(d) => {
            out.put_byte(b'd');
            for (k, v) in d {
                put_bytes(out, k);
                encode_owned(v, out);
            }
            out.put_byte(b'e');
        }
    }
}

fn encode_borrowed(v: &Value<'_>, out: &mut impl Sink) {
    match v {
        Value::Int(i) => put_int(out, *i),
        Value::Bytes(b) => put_bytes(out, b),
        Value::List(l) => {
            out.put_byte(b'l');
            for item in l.iter() {
                encode_borrowed(item, out);
            }
            out.put_byte(b'e');
        }
        Value::Dict(d) => {
            out.put_byte(b'd');
            if d.offset_flags.sorted() {
                for (k, v) in d.iter() {
                    put_bytes(out, k);
                    encode_borrowed(v, out);
                }
            } else {
                let mut order: Vec<(&[u8], &Value<'_>)> = d.iter().collect();
                order.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (k, v) in order {
                    put_bytes(out, k);
                    encode_borrowed(v, out);
                }
            }
            out.put_byte(b'e');
        }
    }
}

/// Formats `i<v>e` into the tail of `buf` and returns that tail.
fn format_int(buf: &mut [u8; 22], v: i64) -> &[u8] {
    let mut pos = buf.len() - 1;
    buf[pos] = b'e';
    let mut n = v.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    pos -= 1;
    buf[pos] = b'i';
    &buf[pos..]
}

/// Formats `<len>:` into the tail of `buf` and returns that tail.
fn format_len(buf: &mut [u8; 21], len: usize) -> &[u8] {
    let mut pos = buf.len() - 1;
    buf[pos] = b':';
    let mut n = len;
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[pos..]
}

/// Encoded length of `i<v>e`.
pub(crate) fn int_len(v: i64) -> usize {
    2 + usize::from(v < 0) + decimal_digits(v.unsigned_abs())
}

/// Encoded length of `<len>:<b>`.
pub(crate) fn bytes_len(b: &[u8]) -> usize {
    decimal_digits(b.len() as u64) + 1 + b.len()
}

fn decimal_digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}
