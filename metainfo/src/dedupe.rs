//! Duplicate file names are renamed, not rejected (libtorrent's rule, restated):
//!
//! * names compare case-insensitively (ASCII);
//! * every directory of every file is registered first, so a file can never take a
//!   directory's name — the file is renamed, wherever it appears in the list;
//! * a later file that collides gets `.N` inserted before its extension (`bar.txt` →
//!   `bar.1.txt`, `a` → `a.1`), with the smallest free `N`;
//! * two pad files of the same size may share a name;
//! * more than `max_renames` failed attempts reject the torrent (a denial-of-service guard).

use std::collections::HashMap;

use crate::error::{Error, ErrorKind};
use crate::torrent::FileEntry;

#[derive(Clone, Copy)]
enum Owner {
    Directory,
    File(usize),
}

pub(crate) fn resolve_duplicates(
    name: &str,
    files: &mut [FileEntry],
    max_renames: usize,
) -> Result<(), Error> {
    // SipHash (std's default) keeps hostile colliding names from making this quadratic.
    let mut seen: HashMap<String, Owner> = HashMap::with_capacity(files.len() * 2);
    let mut previous: &[String] = &[];
    for f in files.iter() {
        if f.path.len() < 2 {
            continue;
        }
        let dirs = &f.path[..f.path.len() - 1];
        if dirs == previous {
            continue; // files of one directory usually come together
        }
        previous = dirs;
        let mut key = name.to_ascii_lowercase();
        let rest = if dirs.first().map(String::as_str) == Some(name) {
            &dirs[1..]
        } else {
            dirs
        };
        seen.entry(key.clone()).or_insert(Owner::Directory);
        for d in rest {
            key.push('/');
            key.push_str(&d.to_ascii_lowercase());
            seen.entry(key.clone()).or_insert(Owner::Directory);
        }
    }
    let mut collisions = 0usize;
    for i in 0..files.len() {
        let full = files[i].path_string();
        let key = full.to_ascii_lowercase();
        let owner = match seen.get(&key) {
            None => {
                seen.insert(key, Owner::File(i));
                continue;
            }
            Some(o) => *o,
        };
        if let Owner::File(j) = owner {
            let (a, b) = (&files[i], &files[j]);
            if a.attributes.padding && b.attributes.padding && a.length == b.length {
                continue;
            }
        }
        let base = remove_extension(&full);
        let ext = extension(&full);
        let mut n = 0u64;
        let renamed = loop {
            n += 1;
            let candidate = format!("{base}.{n}{ext}");
            let k = candidate.to_ascii_lowercase();
            if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(k) {
                slot.insert(Owner::File(i));
                break candidate;
            }
            collisions += 1;
            if collisions > max_renames {
                return Err(Error::new(
                    ErrorKind::TooManyDuplicateNames,
                    format!("info.files[{i}].path"),
                ));
            }
        };
        files[i].path = renamed.split('/').map(str::to_owned).collect();
    }
    Ok(())
}

/// The extension of the last path element, with its dot (`""` if none).
fn extension(path: &str) -> &str {
    let leaf_start = path.rfind('/').map_or(0, |i| i + 1);
    match path[leaf_start..].rfind('.') {
        Some(dot) => &path[leaf_start + dot..],
        None => "",
    }
}

/// The path without the extension of its last element. A dot at the very start of the whole
/// path does not count (libtorrent's quirk, kept for identical renames).
fn remove_extension(path: &str) -> &str {
    let slash = path.rfind('/');
    match path.rfind('.') {
        None | Some(0) => path,
        Some(dot) if slash.is_some_and(|s| dot < s) => path,
        Some(dot) => &path[..dot],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::FileAttributes;

    fn file(path: &str, length: u64, pad: bool) -> FileEntry {
        FileEntry {
            path: path.split('/').map(str::to_owned).collect(),
            length,
            offset: 0,
            attributes: FileAttributes {
                padding: pad,
                ..FileAttributes::default()
            },
            symlink_target: None,
            pieces_root: None,
        }
    }

    fn resolve(paths: &[(&str, u64, bool)]) -> Vec<String> {
        let mut files: Vec<FileEntry> = paths.iter().map(|&(p, l, pad)| file(p, l, pad)).collect();
        resolve_duplicates("test", &mut files, 500).unwrap();
        files.iter().map(FileEntry::path_string).collect()
    }

    #[test]
    fn renames_case_insensitive_duplicates_before_the_extension() {
        assert_eq!(
            resolve(&[
                ("test/temporary.txt", 1, false),
                ("test/Temporary.txt", 1, false),
                ("test/TeMPorArY.txT", 1, false),
                ("test/test/TEMPORARY.TXT", 1, false),
            ]),
            [
                "test/temporary.txt",
                "test/Temporary.1.txt",
                "test/TeMPorArY.2.txT",
                "test/test/TEMPORARY.TXT"
            ]
        );
        assert_eq!(
            resolve(&[
                ("test/b.exe", 1, false),
                ("test/B.ExE", 1, false),
                ("test/B.exe", 1, false)
            ]),
            ["test/b.exe", "test/B.1.ExE", "test/B.2.exe"]
        );
    }

    #[test]
    fn directories_win_over_files() {
        assert_eq!(
            resolve(&[("test/a", 1, false), ("test/a/b", 1, false)]),
            ["test/a.1", "test/a/b"]
        );
        assert_eq!(
            resolve(&[
                ("test/long/path", 1, false),
                ("test/long/path/name/x", 1, false)
            ]),
            ["test/long/path.1", "test/long/path/name/x"]
        );
    }

    #[test]
    fn equal_pad_files_may_collide_others_are_renamed() {
        assert_eq!(
            resolve(&[
                ("test/.pad/1234", 1234, true),
                ("test/.pad/1234", 1234, true)
            ]),
            ["test/.pad/1234", "test/.pad/1234"]
        );
        assert_eq!(
            resolve(&[("test/.pad/1234", 1234, true), ("test/.pad/1234", 1, false)]),
            ["test/.pad/1234", "test/.pad/1234.1"]
        );
        assert_eq!(
            resolve(&[("test/.pad/1234", 1234, true), ("test/.pad/1234", 99, true)]),
            ["test/.pad/1234", "test/.pad/1234.1"]
        );
    }

    #[test]
    fn too_many_collisions_are_an_error() {
        let mut files: Vec<FileEntry> = (0..118)
            .map(|_| file("test/foo/bar.txt", 1, false))
            .collect();
        let err = resolve_duplicates("test", &mut files, 500).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::TooManyDuplicateNames);
    }
}
