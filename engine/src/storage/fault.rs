//! [`StorageFault`]: a storage failure as the engine reports it to the user.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::StorageError;

/// A storage failure that stopped a torrent: the operation, the file and the OS error, as a
/// plain value (cloneable and comparable, unlike [`io::Error`]).
///
/// Made from a [`StorageError`] with [`StorageFault::from`]. Its `Display` reads like
/// `write failed: no space left on device (os error 28)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageFault {
    /// The operation that failed (`"write"`, `"read"`, `"open"`, `"mkdir"`, `"fsync"`, ...).
    pub op: &'static str,
    /// The file (or directory) involved, when the failure names one.
    pub path: Option<PathBuf>,
    /// The OS error kind (`StorageFull`, `PermissionDenied`, `NotFound`, `ReadOnlyFilesystem`,
    /// ...); `InvalidInput` for failures that are not OS errors.
    pub kind: io::ErrorKind,
    /// The raw OS error number (`28` for ENOSPC), when there is one.
    pub raw_os_error: Option<i32>,
    /// The error text, starting in lower case (`no space left on device (os error 28)`).
    pub detail: String,
}

impl StorageFault {
    /// Whether the device is full (ENOSPC or EDQUOT).
    #[must_use]
    pub fn is_no_space(&self) -> bool {
        matches!(
            self.kind,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
    }
}

impl From<&StorageError> for StorageFault {
    fn from(e: &StorageError) -> Self {
        match e {
            StorageError::Io { op, path, source } => Self {
                op,
                path: Some(path.clone()),
                kind: source.kind(),
                raw_os_error: source.raw_os_error(),
                detail: lower_first(&source.to_string()),
            },
            StorageError::OutOfRange { .. } => Self {
                op: "access",
                path: None,
                kind: io::ErrorKind::InvalidInput,
                raw_os_error: None,
                detail: e.to_string(),
            },
            StorageError::NotWritten { .. } => Self {
                op: "read",
                path: None,
                kind: io::ErrorKind::NotFound,
                raw_os_error: None,
                detail: e.to_string(),
            },
            StorageError::SymlinkEscape { .. } => Self {
                op: "symlink",
                path: None,
                kind: io::ErrorKind::InvalidInput,
                raw_os_error: None,
                detail: e.to_string(),
            },
        }
    }
}

impl fmt::Display for StorageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.op, self.detail)
    }
}

/// `No space left` → `no space left` (OS messages start in upper case).
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enospc_write_names_the_file_and_the_os_error() {
        let e = StorageError::io(
            "write",
            "/mnt/small/a.bin",
            io::Error::from_raw_os_error(28),
        );
        let f = StorageFault::from(&e);
        assert_eq!(f.op, "write");
        assert_eq!(f.path, Some(PathBuf::from("/mnt/small/a.bin")));
        assert_eq!(f.kind, io::ErrorKind::StorageFull);
        assert_eq!(f.raw_os_error, Some(28));
        assert!(f.is_no_space());
        assert_eq!(
            f.to_string(),
            "write failed: no space left on device (os error 28)"
        );
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let e = StorageError::io("open", "/x/gone.bin", io::Error::from_raw_os_error(2));
        let f = StorageFault::from(&e);
        assert_eq!(f.kind, io::ErrorKind::NotFound);
        assert!(!f.is_no_space());
        assert_eq!(
            f.to_string(),
            "open failed: no such file or directory (os error 2)"
        );
    }
}
