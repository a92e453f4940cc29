//! Decoded values: [`Value`] borrows from the input, [`OwnedValue`] owns its bytes.

use std::collections::BTreeMap;
use std::fmt;

use crate::encode::{bytes_len, int_len};

/// A decoded bencode value. Byte strings borrow from the input; lists and dictionaries remember
/// the exact input bytes they were parsed from ([`List::raw`], [`Dict::raw`]).
///
/// Prefer the accessors ([`Value::as_dict`], [`Dict::get`], [`Value::as_int`], ...) over
/// matching on the variants.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// An integer (`i42e`).
    Int(i64),
    /// A byte string (`4:spam`), borrowed from the input.
    Bytes(&'a [u8]),
    /// A list (`l...e`).
    List(List<'a>),
    /// A dictionary (`d...e`).
    Dict(Dict<'a>),
}

impl<'a> Value<'a> {
    /// The integer, if this is an integer.
    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The byte string, if this is a byte string.
    #[must_use]
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string holding valid UTF-8.
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is a list.
    #[must_use]
    pub fn as_list(&self) -> Option<&List<'a>> {
        match self {
            Self::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is a dictionary.
    #[must_use]
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Self::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// "integer", "byte string", "list" or "dictionary" (for error messages).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Int(_) => "integer",
            Self::Bytes(_) => "byte string",
            Self::List(_) => "list",
            Self::Dict(_) => "dictionary",
        }
    }

    /// True if re-encoding this value reproduces its input bytes exactly, that is, every
    /// dictionary in it had strictly sorted keys (integers and lengths are always canonical,
    /// because the decoder rejects anything else).
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        match self {
            Self::Int(_) | Self::Bytes(_) => true,
            Self::List(l) => l.offset_flags.canonical(),
            Self::Dict(d) => d.offset_flags.canonical(),
        }
    }

    /// How many input bytes this value occupied. The strict grammar admits exactly one
    /// spelling of each integer and length, so this is also its encoded length (sorting a
    /// dictionary's keys does not change its length).
    #[must_use]
    pub fn input_len(&self) -> usize {
        match self {
            Self::Int(i) => int_len(*i),
            Self::Bytes(b) => bytes_len(b),
            Self::List(l) => l.raw.len(),
            Self::Dict(d) => d.raw.len(),
        }
    }

    /// Copies this value into an [`OwnedValue`].
    #[must_use]
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Self::Int(i) => OwnedValue::Int(*i),
            Self::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Self::List(l) => OwnedValue::List(l.iter().map(Value::to_owned_value).collect()),
            Self::Dict(d) => OwnedValue::Dict(
                d.iter()
                    .map(|(k, v)| (k.to_vec(), v.to_owned_value()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Bytes(b) => write!(f, "{:?}", BytesDebug(b)),
            Self::List(l) => f.debug_list().entries(l.iter()).finish(),
            Self::Dict(d) => f
                .debug_map()
                .entries(d.iter().map(|(k, v)| (BytesDebug(k), v)))
                .finish(),
        }
    }
}

/// A decoded list: its items plus the exact input bytes it came from.
#[derive(Clone)]
pub struct List<'a> {
    pub(crate) items: Box<[Value<'a>]>,
    pub(crate) raw: &'a [u8],
    /// Offset of the `l`, with the flag bits of [`Flags`] on top.
    pub(crate) offset_flags: Flags,
}

impl<'a> List<'a> {
    /// Iterates over the items in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Value<'a>> + DoubleEndedIterator {
        self.items.iter()
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if the list has no items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item at index `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&Value<'a>> {
        self.items.get(i)
    }

    /// The items as a slice.
    #[must_use]
    pub fn as_slice(&self) -> &[Value<'a>] {
        &self.items
    }

    /// The exact input bytes of the item at index `i` (any type, integers included).
    #[must_use]
    pub fn get_raw(&self, i: usize) -> Option<&'a [u8]> {
        let item = self.items.get(i)?;
        let start = match known_start(item, self.raw) {
            Some(start) => start,
            None => {
                // An integer: start from the nearest earlier item whose position is recorded
                // (or the list's first item) and add input lengths.
                let (from, at) = (0..i)
                    .rev()
                    .find_map(|j| known_start(&self.items[j], self.raw).map(|at| (j, at)))
                    .unwrap_or((0, 1));
                at + self.items[from..i]
                    .iter()
                    .map(Value::input_len)
                    .sum::<usize>()
            }
        };
        self.raw.get(start..start + item.input_len())
    }

    /// The exact input bytes of this list, from the `l` to the closing `e`.
    #[must_use]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Byte offset of the `l` in the input.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset_flags.offset()
    }

    /// True if every dictionary nested in this list had strictly sorted keys.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        self.offset_flags.canonical()
    }
}

impl PartialEq for List<'_> {
    /// Compares items only, not where they came from.
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl Eq for List<'_> {}

impl fmt::Debug for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A decoded dictionary: its entries in input order plus the exact input bytes it came from.
#[derive(Clone)]
pub struct Dict<'a> {
    pub(crate) entries: Box<[(&'a [u8], Value<'a>)]>,
    pub(crate) raw: &'a [u8],
    /// Offset of the `d`, with the flag bits of [`Flags`] on top.
    pub(crate) offset_flags: Flags,
}

impl<'a> Dict<'a> {
    /// The value stored under `key` (binary search when the keys are sorted, else a scan).
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        if self.offset_flags.sorted() {
            self.entries
                .binary_search_by(|(k, _)| (*k).cmp(key))
                .ok()
                .map(|i| &self.entries[i].1)
        } else {
            self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
        }
    }

    /// The exact input bytes of the value stored under `key` (any type, integers included),
    /// for hashing or storing a sub-value exactly as it was received.
    #[must_use]
    pub fn get_raw(&self, key: &[u8]) -> Option<&'a [u8]> {
        let (k, v) = if self.offset_flags.sorted() {
            let i = self.entries.binary_search_by(|(k, _)| (*k).cmp(key)).ok()?;
            &self.entries[i]
        } else {
            self.entries.iter().find(|(k, _)| *k == key)?
        };
        // The value starts right after its key's bytes.
        let start = offset_in(k, self.raw)? + k.len();
        self.raw.get(start..start + v.input_len())
    }

    /// Iterates over `(key, value)` pairs in input order.
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = (&'a [u8], &Value<'a>)> + DoubleEndedIterator {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the dictionary has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The exact input bytes of this dictionary, from the `d` to the closing `e`.
    /// The v1 info-hash is the SHA-1 of `info.raw()`.
    #[must_use]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Byte offset of the `d` in the input.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset_flags.offset()
    }

    /// True if the keys are strictly sorted here and in every nested dictionary, so that a
    /// canonical re-encoding reproduces [`Dict::raw`] exactly.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        self.offset_flags.canonical()
    }
}

impl PartialEq for Dict<'_> {
    /// Compares entries (in input order) only, not where they came from.
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Dict<'_> {}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (BytesDebug(k), v)))
            .finish()
    }
}

/// An owned bencode value, for building documents to encode. Dictionaries are `BTreeMap`s, so
/// encoding is always canonical (keys sorted).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Self>),
    /// A dictionary with sorted keys.
    Dict(BTreeMap<Vec<u8>, Self>),
}

impl OwnedValue {
    /// "integer", "byte string", "list" or "dictionary".
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Int(_) => "integer",
            Self::Bytes(_) => "byte string",
            Self::List(_) => "list",
            Self::Dict(_) => "dictionary",
        }
    }
}

impl fmt::Debug for OwnedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Bytes(b) => write!(f, "{:?}", BytesDebug(b)),
            Self::List(l) => f.debug_list().entries(l).finish(),
            Self::Dict(d) => f
                .debug_map()
                .entries(d.iter().map(|(k, v)| (BytesDebug(k), v)))
                .finish(),
        }
    }
}

impl From<i64> for OwnedValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&[u8]> for OwnedValue {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}

impl From<Vec<u8>> for OwnedValue {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

impl From<&str> for OwnedValue {
    fn from(v: &str) -> Self {
        Self::Bytes(v.as_bytes().to_vec())
    }
}

impl From<String> for OwnedValue {
    fn from(v: String) -> Self {
        Self::Bytes(v.into_bytes())
    }
}

impl From<Vec<Self>> for OwnedValue {
    fn from(v: Vec<Self>) -> Self {
        Self::List(v)
    }
}

impl From<BTreeMap<Vec<u8>, Self>> for OwnedValue {
    fn from(v: BTreeMap<Vec<u8>, Self>) -> Self {
        Self::Dict(v)
    }
}

impl From<&Value<'_>> for OwnedValue {
    fn from(v: &Value<'_>) -> Self {
        v.to_owned_value()
    }
}

/// A container's byte offset packed with two flags in the top bits, which keeps [`Value`] at
/// six words (it is moved a lot while decoding). No input can reach 2^62 bytes.
#[derive(Clone, Copy)]
pub(crate) struct Flags(usize);

impl Flags {
    /// The keys of this dictionary (not nested ones) are strictly increasing.
    const SORTED: usize = 1 << (usize::BITS - 1);
    /// Every dictionary here and below has strictly increasing keys.
    const CANONICAL: usize = 1 << (usize::BITS - 2);

    pub(crate) fn new(offset: usize, sorted: bool, canonical: bool) -> Self {
        debug_assert!(offset < Self::CANONICAL);
        let mut bits = offset & !(Self::SORTED | Self::CANONICAL);
        if sorted {
            bits |= Self::SORTED;
        }
        if canonical {
            bits |= Self::CANONICAL;
        }
        Self(bits)
    }

    pub(crate) fn offset(self) -> usize {
        self.0 & !(Self::SORTED | Self::CANONICAL)
    }

    pub(crate) fn sorted(self) -> bool {
        self.0 & Self::SORTED != 0
    }

    pub(crate) fn canonical(self) -> bool {
        self.0 & Self::CANONICAL != 0
    }
}

/// Where `part` (a slice borrowed from `whole`) starts inside `whole`.
fn offset_in(part: &[u8], whole: &[u8]) -> Option<usize> {
    let offset = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (offset + part.len() <= whole.len()).then_some(offset)
}

/// Where a list item starts inside the list's raw bytes, if its position is recorded: byte
/// strings (their content is borrowed, preceded by `<len>:`) and containers (their raw span).
fn known_start(v: &Value<'_>, raw: &[u8]) -> Option<usize> {
    match v {
        Value::Int(_) => None,
        Value::Bytes(b) => offset_in(b, raw)?.checked_sub(bytes_len(b) - b.len()),
        Value::List(l) => offset_in(l.raw, raw),
        Value::Dict(d) => offset_in(d.raw, raw),
    }
}

/// Debug-prints bytes as a string literal when UTF-8, else as `b"..."` with escapes.
struct BytesDebug<'b>(&'b [u8]);

impl fmt::Debug for BytesDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}
