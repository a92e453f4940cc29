//! Decode and encode errors: a kind, the byte offset where it happened, and an optional path.

use std::fmt;

/// A bencode error: what went wrong ([`ErrorKind`]), at which byte offset of the input, and,
/// when the caller knows it, where in the document (for example `info.files[3].length`).
///
/// `Display` reads like "leading zero in integer at byte 17 (at `info.length`)".
///
/// The error is one pointer wide (boxed), so `Result`s stay small on the hot path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}{location}{path}")]
struct Inner {
    kind: ErrorKind,
    location: Location,
    path: ErrorPath,
}

impl Error {
    /// Creates an error of `kind` at byte `offset` of the input.
    #[must_use]
    pub fn new(kind: ErrorKind, offset: usize) -> Self {
        Self(Box::new(Inner {
            kind,
            location: Location(Some(offset)),
            path: ErrorPath(None),
        }))
    }

    /// An error with no known location yet (serde messages); see [`Error::locate`].
    #[cfg(feature = "serde")]
    pub(crate) fn unlocated(kind: ErrorKind) -> Self {
        Self(Box::new(Inner {
            kind,
            location: Location(None),
            path: ErrorPath(None),
        }))
    }

    /// Sets the offset and the path, each unless an inner value already set it.
    #[cfg(feature = "serde")]
    pub(crate) fn locate(mut self, offset: usize, path: impl FnOnce() -> String) -> Self {
        if self.0.location.0.is_none() {
            self.0.location = Location(Some(offset));
        }
        if self.0.path.0.is_none() {
            let p = path();
            if !p.is_empty() {
                self.0.path = ErrorPath(Some(p.into_boxed_str()));
            }
        }
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset in the input where the problem was detected (0 for errors that have no
    /// input position, such as serializing a float).
    #[must_use]
    pub fn offset(&self) -> usize {
        self.0.location.0.unwrap_or(0)
    }

    /// The document path attached with [`Error::with_path`], if any.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.0.path.0.as_deref()
    }

    /// Attaches a document path such as `info.files[3].length` (replaces any earlier path).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.0.path = ErrorPath(Some(path.into().into_boxed_str()));
        self
    }
}

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended in the middle of a value (or a byte string runs past the end).
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// An integer is empty (`ie`, `i-e`) or otherwise malformed.
    #[error("invalid integer")]
    InvalidInteger,
    /// An integer or a string length has a leading zero (`i03e`, `03:abc`).
    #[error("leading zero in integer")]
    LeadingZero,
    /// The integer `-0` (`i-0e`), which BEP 3 forbids.
    #[error("negative zero")]
    NegativeZero,
    /// An integer does not fit in an `i64`.
    #[error("integer does not fit in 64 bits")]
    IntegerOverflow,
    /// A byte string length is not a valid length (too large for this machine).
    #[error("invalid byte string length")]
    InvalidLength,
    /// A byte that cannot start or continue the value being parsed.
    #[error("unexpected byte {}", ByteDisplay(*.0))]
    UnexpectedByte(u8),
    /// A dictionary key that is not a byte string.
    #[error("dictionary key is not a byte string")]
    KeyNotBytes,
    /// The same key appears twice in one dictionary.
    #[error("duplicate dictionary key")]
    DuplicateKey,
    /// Containers nested deeper than [`DecodeOptions::max_depth`](crate::DecodeOptions).
    #[error("nesting too deep")]
    DepthLimit,
    /// More values than [`DecodeOptions::max_items`](crate::DecodeOptions).
    #[error("too many items")]
    ItemLimit,
    /// Bytes remain after a complete value (use `decode_prefix` to allow them).
    #[error("trailing bytes after the value")]
    TrailingBytes,
    /// A value has the wrong type for what the caller (or a serde type) expected.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What was expected, e.g. "integer".
        expected: &'static str,
        /// What was found, e.g. "byte string".
        found: &'static str,
    },
    /// A message from serde or from the caller.
    #[error("{0}")]
    Message(String),
}

/// Renders " at byte N" when the offset is known.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location(Option<usize>);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(offset) => write!(f, " at byte {offset}"),
            None => Ok(()),
        }
    }
}

/// Renders the optional path suffix of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct ErrorPath(Option<Box<str>>);

impl fmt::Display for ErrorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(p) => write!(f, " (at `{p}`)"),
            None => Ok(()),
        }
    }
}

/// Shows a byte as `'x'` when printable, else as `0x1f`.
struct ByteDisplay(u8);

impl fmt::Display for ByteDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", char::from(self.0))
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_offset_and_path() {
        let e = Error::new(ErrorKind::LeadingZero, 17);
        assert_eq!(e.to_string(), "leading zero in integer at byte 17");
        let e = e.with_path("info.files[3].length");
        assert_eq!(
            e.to_string(),
            "leading zero in integer at byte 17 (at `info.files[3].length`)"
        );
        assert_eq!(e.path(), Some("info.files[3].length"));
        let e = Error::new(ErrorKind::UnexpectedByte(b'z'), 2);
        assert_eq!(e.to_string(), "unexpected byte 'z' at byte 2");
        let e = Error::new(ErrorKind::UnexpectedByte(b'\n'), 3);
        assert_eq!(e.to_string(), "unexpected byte 0x0a at byte 3");
    }
}
