//! Errors for loading a `.torrent`: what rule was broken, and in which field.

use std::fmt;

/// Why a `.torrent` (or an info dictionary) was rejected.
///
/// [`Error::field`] names where, as a path such as `info.files[3].length`; [`Error::kind`] says
/// what. `Display` prints both: `info.files[3].length: invalid length -45`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    field: String,
}

/// The rule a rejected `.torrent` broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is larger than [`crate::Limits::max_size`].
    #[error("input is {size} bytes, limit is {limit}")]
    TooLarge {
        /// Input size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The bytes are not valid bencoding (or exceed the decoder's depth/item limits).
    #[error("invalid bencoding: {0}")]
    Bencode(freshet_bencode::Error),
    /// The top level is not a dictionary.
    #[error("torrent file is not a dictionary")]
    NotADictionary,
    /// A required key is absent.
    #[error("missing")]
    Missing,
    /// A value has the wrong bencode type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type the format requires.
        expected: &'static str,
        /// The type that was found.
        found: &'static str,
    },
    /// `piece length` is out of range (v1: 1..=536 854 528; v2: also a power of two ≥ 16 KiB).
    #[error("invalid piece length {0}")]
    InvalidPieceLength(i64),
    /// A file length is negative, missing, too large, or the total overflows.
    #[error("invalid length {0}")]
    InvalidLength(i64),
    /// The total payload size is zero.
    #[error("total length of all files is zero")]
    ZeroTotalLength,
    /// The name is missing, not a string, or empty after sanitising (single-file torrent).
    #[error("missing or empty name")]
    MissingName,
    /// `files` is an empty list, or no file was described at all.
    #[error("no files in torrent")]
    NoFiles,
    /// `pieces` does not hold exactly 20 bytes per piece.
    #[error("'pieces' is {found} bytes, expected {expected} (20 x {pieces} pieces)")]
    PiecesLength {
        /// Expected byte length.
        expected: u64,
        /// Actual byte length.
        found: usize,
        /// Number of pieces the file sizes imply.
        pieces: u64,
    },
    /// More pieces than [`crate::Limits::max_pieces`].
    #[error("too many pieces: {count}, limit is {limit}")]
    TooManyPieces {
        /// Piece count implied by the sizes.
        count: u64,
        /// The configured limit.
        limit: u64,
    },
    /// `meta version` is larger than 2.
    #[error("unknown meta version {0}")]
    UnknownVersion(i64),
    /// A v2 info dictionary that is not canonical bencoding (unsorted keys).
    #[error("info dictionary of a v2 torrent is not canonical bencoding")]
    NonCanonical,
    /// A v2 torrent without `file tree`.
    #[error("v2 torrent has no 'file tree'")]
    MissingFileTree,
    /// A `file tree` in a torrent without `meta version` 2.
    #[error("'file tree' present but 'meta version' is not 2")]
    MissingMetaVersion,
    /// A malformed `file tree` node.
    #[error("invalid file tree: {0}")]
    FileTree(&'static str),
    /// A v2 file tree entry with the pad attribute.
    #[error("a v2 file tree entry has the pad attribute")]
    PadFileInV2,
    /// A non-empty v2 file without a valid non-zero `pieces root`.
    #[error("v2 file has no valid 'pieces root'")]
    MissingPiecesRoot,
    /// The v1 `files` list and the v2 `file tree` of a hybrid torrent disagree.
    #[error("v1 and v2 file lists do not match: {0}")]
    InconsistentFiles(String),
    /// A `piece layers` entry that is malformed or does not hash to its file's root.
    #[error("invalid piece layer: {0}")]
    InvalidPieceLayer(&'static str),
    /// Path nesting deeper than [`crate::Limits::max_path_depth`].
    #[error("directory nesting {depth} exceeds limit {limit}")]
    DirectoryTooDeep {
        /// Depth found.
        depth: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Resolving duplicate file names needed more than
    /// [`crate::Limits::max_duplicate_renames`] attempts (a denial-of-service pattern).
    #[error("too many duplicate file names")]
    TooManyDuplicateNames,
}

impl Error {
    /// An error of `kind` at `field` (a path like `info.files[3].length`).
    #[must_use]
    pub fn new(kind: ErrorKind, field: impl Into<String>) -> Self {
        Self {
            kind,
            field: field.into(),
        }
    }

    /// What rule was broken.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Where: the field path (`""` for the whole input).
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.field, self.kind)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Bencode(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field_and_the_problem() {
        let e = Error::new(ErrorKind::InvalidLength(-45), "info.files[1].length");
        assert_eq!(e.to_string(), "info.files[1].length: invalid length -45");
        assert_eq!(
            Error::new(ErrorKind::NotADictionary, "").to_string(),
            "torrent file is not a dictionary"
        );
    }
}
