//! BEP 47 symlink targets are checked against the torrent's own tree (libtorrent's rule):
//! a target is kept if it names a file or directory of the torrent, directly or through other
//! symlinks; otherwise it is retried relative to the link's own directory; a target that
//! still points nowhere inside the torrent is rewritten to point at the link itself, so no
//! link ever leads outside the save directory.

use std::collections::{HashMap, HashSet};

use crate::torrent::FileEntry;

/// Most symlink substitutions while resolving one target (cycles end here).
const MAX_HOPS: usize = 32;

pub(crate) fn sanitize_symlinks(files: &mut [FileEntry]) {
    if !files.iter().any(|f| f.symlink_target.is_some()) {
        return;
    }
    let mut exists: HashSet<Vec<String>> = HashSet::new();
    let mut links: HashMap<Vec<String>, Vec<String>> = HashMap::new();
    for f in files.iter() {
        for i in 1..=f.path.len() {
            exists.insert(f.path[..i].to_vec());
        }
        if let Some(t) = &f.symlink_target {
            links.insert(f.path.clone(), t.clone());
        }
    }
    for f in files.iter_mut() {
        let Some(target) = f.symlink_target.take() else {
            continue;
        };
        let parent_relative = || {
            let mut p = f.path[..f.path.len().saturating_sub(1)].to_vec();
            p.extend(target.iter().skip(1).cloned());
            p
        };
        let chosen = if resolves(&target, &exists, &links) {
            target.clone()
        } else {
            let alt = parent_relative();
            if resolves(&alt, &exists, &links) {
                alt
            } else {
                f.path.clone()
            }
        };
        f.symlink_target = Some(chosen);
    }
}

/// True if `path` names an entry of the torrent, following symlinks in its prefixes.
fn resolves(
    path: &[String],
    exists: &HashSet<Vec<String>>,
    links: &HashMap<Vec<String>, Vec<String>>,
) -> bool {
    let mut current = path.to_vec();
    for _ in 0..MAX_HOPS {
        if exists.contains(&current) {
            return true;
        }
        // Replace the longest prefix that is a symlink by its target and try again.
        let Some((i, target)) = (1..current.len())
            .rev()
            .find_map(|i| links.get(&current[..i]).map(|t| (i, t)))
        else {
            return false;
        };
        let mut next = target.clone();
        next.extend_from_slice(&current[i..]);
        current = next;
    }
    false
}
