//! Loading: bytes → [`Metainfo`], following libtorrent 2.1's acceptance rules.
//!
//! Order of checks (the first failure wins): size limit, bencode (depth/item limits, duplicate
//! keys), top-level dict, `info` dict, `meta version` (v2 info dicts must be canonical),
//! `piece length`, `name`, files (`file tree` and/or `files`/`length`), hybrid consistency,
//! piece count limit, `pieces` length, zero total, duplicate names, piece layers.

use std::collections::{BTreeMap, HashMap};

use freshet_bencode::{DecodeOptions, Dict, List, Value};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::error::{Error, ErrorKind};
use crate::infohash::{InfoHashV1, InfoHashV2, InfoHashes};
use crate::merkle::{self, MerkleHash};
use crate::sanitize::{Mode, sanitize_element};
use crate::torrent::{DhtNode, FileAttributes, FileEntry, Info, Layout, Limits, Metainfo, Version};

/// Largest v1 piece length libtorrent accepts (32767 x 16 KiB).
const MAX_PIECE_LENGTH: i64 = 32767 * 16384;
/// Largest single file and largest payload offset (2^48 - 1), as libtorrent.
const MAX_FILE_SIZE: i64 = (1 << 48) - 1;
/// Per-file block limit: merkle tree indices must fit an `int` (2^30 - 1 blocks).
const MAX_FILE_BLOCKS: i64 = i32::MAX as i64 / 2;

impl Metainfo {
    /// Loads a `.torrent` with the default [`Limits`]. Bytes after the top-level dictionary
    /// (a stray newline) are ignored.
    ///
    /// # Errors
    /// [`Error`] naming the offending field when the torrent is invalid.
    pub fn from_bytes(input: &[u8]) -> Result<Self, Error> {
        Self::from_bytes_with(input, &Limits::default())
    }

    /// Loads a `.torrent` with custom [`Limits`].
    ///
    /// # Errors
    /// [`Error`] naming the offending field when the torrent is invalid.
    pub fn from_bytes_with(input: &[u8], limits: &Limits) -> Result<Self, Error> {
        if input.len() > limits.max_size {
            return Err(Error::new(
                ErrorKind::TooLarge {
                    size: input.len(),
                    limit: limits.max_size,
                },
                "",
            ));
        }
        let opts = DecodeOptions {
            max_depth: limits.max_depth,
            max_items: limits.max_items,
        };
        let (root, _used) = opts
            .decode_prefix(input)
            .map_err(|e| Error::new(ErrorKind::Bencode(e), ""))?;
        let root = root
            .as_dict()
            .ok_or_else(|| Error::new(ErrorKind::NotADictionary, ""))?;
        let info = match root.get(b"info") {
            Some(v) => v
                .as_dict()
                .ok_or_else(|| wrong_type("dictionary", v, "info"))?,
            None => return Err(Error::new(ErrorKind::Missing, "info")),
        };
        let (info_parsed, hashes) = parse_info(info, limits)?;
        let mut meta = Self {
            info: info_parsed,
            info_hashes: hashes,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            http_seeds: Vec::new(),
            nodes: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
            encoding: None,
            similar: Vec::new(),
            collections: Vec::new(),
            piece_layers: BTreeMap::new(),
            info_bytes: info.raw().to_vec(),
        };
        if meta.info_hashes.v2.is_some() {
            meta.piece_layers = parse_piece_layers(root.get(b"piece layers"), &meta.info)?;
        }
        meta.similar = similar_hashes(info.get(b"similar"));
        meta.similar.extend(similar_hashes(root.get(b"similar")));
        meta.collections = strings(info.get(b"collections"));
        meta.collections.extend(strings(root.get(b"collections")));
        meta.trackers = trackers(root);
        meta.web_seeds = web_seeds(root.get(b"url-list"), &meta.info);
        meta.http_seeds = strings_or_one(root.get(b"httpseeds"));
        meta.nodes = nodes(root.get(b"nodes"));
        meta.comment = text_utf8_twin(root, b"comment");
        meta.created_by = text_utf8_twin(root, b"created by");
        meta.creation_date = root
            .get(b"creation date")
            .and_then(Value::as_int)
            .filter(|d| *d >= 0);
        meta.encoding = root.get(b"encoding").and_then(lossy);
        Ok(meta)
    }

    /// Loads a bare info dictionary (as received through `ut_metadata`), with no trackers.
    ///
    /// # Errors
    /// [`Error`] naming the offending field when the dictionary is invalid.
    pub fn from_info_bytes(info_bytes: &[u8]) -> Result<Self, Error> {
        let mut wrapped = Vec::with_capacity(info_bytes.len() + 8);
        wrapped.extend_from_slice(b"d4:info");
        wrapped.extend_from_slice(info_bytes);
        wrapped.push(b'e');
        let meta = Self::from_bytes(&wrapped)?;
        if meta.info_bytes != info_bytes {
            // Trailing bytes after the info dict were swallowed into the wrapper.
            return Err(Error::new(
                ErrorKind::Bencode(freshet_bencode::Error::new(
                    freshet_bencode::ErrorKind::TrailingBytes,
                    meta.info_bytes.len(),
                )),
                "info",
            ));
        }
        Ok(meta)
    }
}

/// A file as extracted from `files`/`file tree`, before offsets and renaming.
struct RawFile {
    path: Vec<String>,
    length: u64,
    attributes: FileAttributes,
    symlink_target: Option<Vec<String>>,
    pieces_root: Option<MerkleHash>,
}

fn parse_info(info: &Dict<'_>, limits: &Limits) -> Result<(Info, InfoHashes), Error> {
    let raw = info.raw();
    let v1_hash = InfoHashV1(Sha1::digest(raw).into());
    let version = info
        .get(b"meta version")
        .and_then(Value::as_int)
        .unwrap_or(-1);
    // Only v2 info dicts have a SHA-256 identity; skip the work for v1.
    let v2_hash = if version >= 2 {
        InfoHashV2(Sha256::digest(raw).into())
    } else {
        InfoHashV2([0; 32])
    };
    if version > 0 {
        if !info.is_canonical() {
            return Err(Error::new(ErrorKind::NonCanonical, "info"));
        }
        if version > 2 {
            return Err(Error::new(
                ErrorKind::UnknownVersion(version),
                "info.meta version",
            ));
        }
    }
    let is_v2 = version >= 2;

    let piece_length = match info.get(b"piece length") {
        None => return Err(Error::new(ErrorKind::Missing, "info.piece length")),
        Some(v) => v
            .as_int()
            .ok_or_else(|| wrong_type("integer", v, "info.piece length"))?,
    };
    let pl_ok = (1..=MAX_PIECE_LENGTH).contains(&piece_length)
        && (!is_v2 || (piece_length >= 16384 && (piece_length & (piece_length - 1)) == 0));
    if !pl_ok {
        return Err(Error::new(
            ErrorKind::InvalidPieceLength(piece_length),
            "info.piece length",
        ));
    }
    let piece_length = piece_length.unsigned_abs();

    let (name_key, name_bytes) = match (info.get(b"name.utf-8"), info.get(b"name")) {
        (Some(v), _) if v.as_bytes().is_some() => ("info.name.utf-8", v.as_bytes()),
        (_, Some(v)) => ("info.name", v.as_bytes()),
        (_, None) => ("info.name", None),
    };
    let name_bytes = name_bytes.ok_or_else(|| Error::new(ErrorKind::MissingName, name_key))?;
    let files_list = info.get(b"files").and_then(Value::as_list);
    let has_single_length = info.get(b"length").is_some();
    let v2_only = is_v2 && files_list.is_none() && !has_single_length;
    let dir_name = sanitize_element(name_bytes, Mode::Lenient).unwrap_or_else(|| {
        if v2_only {
            v2_hash.to_hex()
        } else {
            v1_hash.to_hex()
        }
    });

    let tree = info.get(b"file tree");
    let v2_files = match (is_v2, tree) {
        (true, Some(t)) => {
            let t = t
                .as_dict()
                .ok_or_else(|| wrong_type("dictionary", t, "info.file tree"))?;
            let mut out = Vec::new();
            let mut ctx = TreeCtx {
                limits,
                total: 0,
                out: &mut out,
                has_files: files_list.is_some(),
            };
            extract_tree(
                &mut ctx,
                t,
                std::slice::from_ref(&dir_name),
                0,
                "info.file tree",
            )?;
            Some(out)
        }
        (true, None) => return Err(Error::new(ErrorKind::MissingFileTree, "info.file tree")),
        (false, Some(_)) => {
            return Err(Error::new(
                ErrorKind::MissingMetaVersion,
                "info.meta version",
            ));
        }
        (false, None) => None,
    };

    let mut single = false;
    let v1_files = if let Some(list) = files_list {
        Some(extract_files(list, &dir_name, limits)?)
    } else if !is_v2 || has_single_length {
        single = true;
        Some(vec![extract_single(info, name_key, name_bytes)?])
    } else {
        None
    };

    let hybrid = matches!((&v1_files, &v2_files), (Some(v1), Some(_)) if !v1.is_empty());
    let v2_files = v2_files.map(|files| {
        // v2 layout: a pad after every non-empty file that ends off a piece boundary. The
        // tail pad is kept for multi-file v2-only torrents, and for hybrids only when their
        // v1 list has one (older hybrids omit it).
        let tail = match &v1_files {
            Some(v1) if hybrid => v1
                .iter()
                .rev()
                .find(|f| f.length > 0)
                .is_some_and(|f| f.attributes.padding),
            _ => files.len() > 1,
        };
        v2_layout(files, piece_length, &dir_name, tail)
    });
    if let (true, Some(v1), Some(v2)) = (hybrid, &v1_files, &v2_files) {
        check_consistent(v1, v2)?;
    }
    let (raw_files, layout) = match (v1_files, v2_files) {
        (Some(v1), Some(v2)) if !v1.is_empty() => {
            let layout = if single {
                Layout::SingleFile
            } else {
                Layout::MultiFile
            };
            (v2, layout)
        }
        (_, Some(v2)) => {
            let layout = if v2.len() > 1 || files_list.is_some() {
                Layout::MultiFile
            } else {
                Layout::SingleFile
            };
            (v2, layout)
        }
        (Some(v1), None) => {
            let layout = if single {
                Layout::SingleFile
            } else {
                Layout::MultiFile
            };
            (v1, layout)
        }
        (None, None) => (Vec::new(), Layout::SingleFile),
    };
    if raw_files.is_empty() {
        return Err(Error::new(ErrorKind::NoFiles, "info.files"));
    }

    let total: u64 = raw_files.iter().map(|f| f.length).sum();
    if total / piece_length >= i32::MAX as u64 {
        return Err(too_many(total / piece_length, limits));
    }
    let piece_count = total.div_ceil(piece_length);
    if piece_count > limits.max_pieces {
        return Err(too_many(piece_count, limits));
    }

    let has_v1 = !v2_only;
    let pieces = match info.get(b"pieces") {
        Some(v) => {
            let bytes = v
                .as_bytes()
                .ok_or_else(|| wrong_type("byte string", v, "info.pieces"))?;
            let expected = piece_count * 20;
            if bytes.len() as u64 != expected {
                return Err(Error::new(
                    ErrorKind::PiecesLength {
                        expected,
                        found: bytes.len(),
                        pieces: piece_count,
                    },
                    "info.pieces",
                ));
            }
            bytes.to_vec()
        }
        None if !is_v2 => return Err(Error::new(ErrorKind::Missing, "info.pieces")),
        None => Vec::new(),
    };
    if total == 0 {
        return Err(Error::new(ErrorKind::ZeroTotalLength, "info"));
    }

    let name = match layout {
        Layout::MultiFile => dir_name,
        Layout::SingleFile => raw_files[0].path.first().cloned().unwrap_or(dir_name),
    };
    let mut files = Vec::with_capacity(raw_files.len());
    let mut offset = 0u64;
    for f in raw_files {
        files.push(FileEntry {
            path: f.path,
            length: f.length,
            offset,
            attributes: f.attributes,
            symlink_target: f.symlink_target,
            pieces_root: f.pieces_root,
        });
        offset += f.length;
    }
    crate::symlinks::sanitize_symlinks(&mut files);
    if layout == Layout::MultiFile {
        crate::dedupe::resolve_duplicates(&name, &mut files, limits.max_duplicate_renames)?;
    }

    let version = match (has_v1 && !pieces.is_empty(), is_v2) {
        (true, true) => Version::Hybrid,
        (false, true) => Version::V2,
        _ => Version::V1,
    };
    let hashes = InfoHashes {
        v1: (version != Version::V2).then_some(v1_hash),
        v2: is_v2.then_some(v2_hash),
    };
    let private = info
        .get(b"private")
        .and_then(Value::as_int)
        .is_some_and(|p| p != 0);
    let source = info.get(b"source").and_then(lossy);
    Ok((
        Info {
            name,
            piece_length,
            files,
            total_length: total,
            piece_count,
            private,
            source,
            version,
            layout,
            pieces,
        },
        hashes,
    ))
}

fn too_many(count: u64, limits: &Limits) -> Error {
    Error::new(
        ErrorKind::TooManyPieces {
            count,
            limit: limits.max_pieces,
        },
        "info.pieces",
    )
}

fn attributes(dict: &Dict<'_>) -> FileAttributes {
    let mut a = FileAttributes::default();
    if let Some(attr) = dict.get(b"attr").and_then(Value::as_bytes) {
        for c in attr {
            match c {
                b'p' => a.padding = true,
                b'x' => a.executable = true,
                b'h' => a.hidden = true,
                b'l' => a.symlink = true,
                _ => {}
            }
        }
    }
    a
}

/// Reads and range-checks a file `length` (symlinks take no space: 0).
fn file_length(dict: &Dict<'_>, symlink: bool, field: &dyn Fn() -> String) -> Result<u64, Error> {
    if symlink {
        return Ok(0);
    }
    let len = dict.get(b"length").and_then(Value::as_int).unwrap_or(-1);
    if len < 0 || len / 16384 >= MAX_FILE_BLOCKS || len > MAX_FILE_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidLength(len),
            format!("{}.length", field()),
        ));
    }
    Ok(len.unsigned_abs())
}

/// Sanitised `symlink path` (relative to the torrent root, `.`/`..` elements dropped).
fn symlink_target(
    dict: &Dict<'_>,
    root: &str,
    field: &dyn Fn() -> String,
) -> Result<Option<Vec<String>>, Error> {
    let Some(list) = dict.get(b"symlink path").and_then(Value::as_list) else {
        return Ok(None);
    };
    let mut target = vec![root.to_owned()];
    for (i, e) in list.iter().enumerate() {
        let b = e.as_bytes().ok_or_else(|| {
            wrong_type("byte string", e, &format!("{}.symlink path[{i}]", field()))
        })?;
        if b == b"." || b == b".." {
            continue;
        }
        if let Some(s) = sanitize_element(b, Mode::Forced) {
            target.push(s);
        }
    }
    Ok(Some(target))
}

fn extract_single(info: &Dict<'_>, name_key: &str, name: &[u8]) -> Result<RawFile, Error> {
    let mut attrs = attributes(info);
    let length = file_length(info, attrs.symlink, &|| "info".to_owned())?;
    let elem = sanitize_element(name, Mode::Lenient)
        .ok_or_else(|| Error::new(ErrorKind::MissingName, name_key))?;
    if elem.contains("_____padding_file_") {
        attrs.padding = true;
    }
    attrs.symlink = false;
    Ok(RawFile {
        path: vec![elem],
        length,
        attributes: attrs,
        symlink_target: None,
        pieces_root: None,
    })
}

fn extract_files(list: &List<'_>, dir: &str, limits: &Limits) -> Result<Vec<RawFile>, Error> {
    let mut out = Vec::with_capacity(list.len());
    let mut total = 0i64;
    for (i, entry) in list.iter().enumerate() {
        let field = || format!("info.files[{i}]");
        let dict = entry
            .as_dict()
            .ok_or_else(|| wrong_type("dictionary", entry, &field()))?;
        let mut attrs = attributes(dict);
        let length = file_length(dict, attrs.symlink, &field)?;
        let (path_key, path_list) = match (dict.get(b"path.utf-8"), dict.get(b"path")) {
            (Some(v), _) if v.as_list().is_some() => ("path.utf-8", v.as_list()),
            (_, Some(v)) => ("path", v.as_list()),
            _ => ("path", None),
        };
        let path = match path_list {
            Some(p) if !p.is_empty() => {
                if p.len() > limits.max_path_depth {
                    return Err(Error::new(
                        ErrorKind::DirectoryTooDeep {
                            depth: p.len(),
                            limit: limits.max_path_depth,
                        },
                        format!("{}.{path_key}", field()),
                    ));
                }
                let mut path = Vec::with_capacity(p.len() + 1);
                path.push(dir.to_owned());
                for (j, e) in p.iter().enumerate() {
                    let b = e.as_bytes().ok_or_else(|| {
                        wrong_type("byte string", e, &format!("{}.{path_key}[{j}]", field()))
                    })?;
                    path.extend(sanitize_element(b, Mode::Forced));
                }
                path
            }
            _ if attrs.padding => vec![".pad".to_owned(), length.to_string()],
            _ => {
                return Err(Error::new(
                    ErrorKind::MissingName,
                    format!("{}.path", field()),
                ));
            }
        };
        if path.iter().any(|e| e.contains("_____padding_file_")) {
            attrs.padding = true;
        }
        let symlink_target = if attrs.symlink {
            symlink_target(dict, dir, &field)?
        } else {
            None
        };
        if symlink_target.is_none() {
            attrs.symlink = false;
        }
        let len_i = i64::try_from(length).unwrap_or(i64::MAX);
        if MAX_FILE_SIZE - total < len_i {
            return Err(Error::new(
                ErrorKind::InvalidLength(len_i),
                format!("{}.length", field()),
            ));
        }
        total += len_i;
        out.push(RawFile {
            path,
            length,
            attributes: attrs,
            symlink_target,
            pieces_root: None,
        });
    }
    Ok(out)
}

struct TreeCtx<'o> {
    limits: &'o Limits,
    total: u64,
    out: &'o mut Vec<RawFile>,
    has_files: bool,
}

fn pad_file(dir: &str, size: u64) -> RawFile {
    RawFile {
        path: vec![dir.to_owned(), ".pad".to_owned(), size.to_string()],
        length: size,
        attributes: FileAttributes {
            padding: true,
            ..FileAttributes::default()
        },
        symlink_target: None,
        pieces_root: None,
    }
}

fn extract_tree(
    ctx: &mut TreeCtx<'_>,
    tree: &Dict<'_>,
    dir: &[String],
    depth: usize,
    field: &str,
) -> Result<(), Error> {
    if depth > ctx.limits.max_path_depth {
        return Err(Error::new(
            ErrorKind::DirectoryTooDeep {
                depth,
                limit: ctx.limits.max_path_depth,
            },
            field,
        ));
    }
    for (key, value) in tree.iter() {
        let name = String::from_utf8_lossy(key);
        let sub_field = format!("{field}.{name}");
        if key.is_empty() {
            return Err(Error::new(
                ErrorKind::FileTree("empty file name"),
                sub_field,
            ));
        }
        let node = value.as_dict().ok_or_else(|| {
            Error::new(ErrorKind::FileTree("node is not a dictionary"), &sub_field)
        })?;
        let leaf = node.len() == 1 && node.iter().next().is_some_and(|(k, _)| k.is_empty());
        let single_file = leaf && !ctx.has_files && tree.len() == 1 && depth == 0;
        let mut path: Vec<String> = if single_file {
            Vec::new()
        } else {
            dir.to_vec()
        };
        path.extend(sanitize_element(key, Mode::Forced));
        if leaf {
            let file_dict = node.get(b"").and_then(Value::as_dict).ok_or_else(|| {
                Error::new(
                    ErrorKind::FileTree("file entry is not a dictionary"),
                    &sub_field,
                )
            })?;
            extract_tree_file(ctx, file_dict, path, &dir[0], &sub_field)?;
        } else {
            extract_tree(ctx, node, &path, depth + 1, &sub_field)?;
        }
    }
    Ok(())
}

fn extract_tree_file(
    ctx: &mut TreeCtx<'_>,
    dict: &Dict<'_>,
    path: Vec<String>,
    root: &str,
    field: &str,
) -> Result<(), Error> {
    let mut attrs = attributes(dict);
    if attrs.padding {
        return Err(Error::new(ErrorKind::PadFileInV2, format!("{field}.attr")));
    }
    let owned = || field.to_owned();
    let length = file_length(dict, attrs.symlink, &owned)?;
    let target = if attrs.symlink {
        symlink_target(dict, root, &owned)?
    } else {
        None
    };
    attrs.symlink = target.is_some();
    let mut pieces_root = None;
    if target.is_none() {
        match dict.get(b"pieces root").and_then(Value::as_bytes) {
            Some(r) if r.len() == 32 => {
                let mut h = [0u8; 32];
                h.copy_from_slice(r);
                let h = MerkleHash(h);
                if length > 0 && h.is_zero() {
                    return Err(Error::new(
                        ErrorKind::MissingPiecesRoot,
                        format!("{field}.pieces root"),
                    ));
                }
                if length > 0 {
                    pieces_root = Some(h);
                }
            }
            _ if length == 0 => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::MissingPiecesRoot,
                    format!("{field}.pieces root"),
                ));
            }
        }
    }
    if ctx
        .total
        .checked_add(length)
        .is_none_or(|t| t > MAX_FILE_SIZE as u64)
    {
        return Err(Error::new(
            ErrorKind::InvalidLength(i64::try_from(length).unwrap_or(i64::MAX)),
            format!("{field}.length"),
        ));
    }
    ctx.total += length;
    ctx.out.push(RawFile {
        path,
        length,
        attributes: attrs,
        symlink_target: target,
        pieces_root,
    });
    Ok(())
}

/// Lays out v2 files: each non-empty file is followed by a pad up to the next piece boundary
/// (the last one only if `tail`).
fn v2_layout(files: Vec<RawFile>, piece_length: u64, dir: &str, tail: bool) -> Vec<RawFile> {
    let last_nonempty = files.iter().rposition(|f| f.length > 0);
    let mut out = Vec::with_capacity(files.len() * 2);
    let mut total = 0u64;
    for (i, f) in files.into_iter().enumerate() {
        total += f.length;
        let nonempty = f.length > 0;
        out.push(f);
        let is_last = Some(i) == last_nonempty;
        if nonempty && total % piece_length != 0 && (tail || !is_last) {
            let pad = piece_length - total % piece_length;
            out.push(pad_file(dir, pad));
            total += pad;
        }
    }
    out
}

/// Hybrid rule: the v1 list must describe the same files, at the same offsets, as v2
/// (offsets of empty files are not compared: they occupy no piece).
fn check_consistent(v1: &[RawFile], v2: &[RawFile]) -> Result<(), Error> {
    let real = |files: &[RawFile]| -> Vec<(u64, usize)> {
        let mut offset = 0u64;
        let mut out = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if !f.attributes.padding {
                out.push((offset, i));
            }
            offset += f.length;
        }
        out
    };
    let a = real(v1);
    let b = real(v2);
    if a.len() != b.len() {
        return Err(Error::new(
            ErrorKind::InconsistentFiles(format!(
                "{} files in v1 'files', {} in v2 'file tree'",
                a.len(),
                b.len()
            )),
            "info.files",
        ));
    }
    for (n, ((oa, ia), (ob, ib))) in a.iter().zip(&b).enumerate() {
        let (fa, fb) = (&v1[*ia], &v2[*ib]);
        if fa.path != fb.path || fa.length != fb.length || (fa.length > 0 && oa != ob) {
            return Err(Error::new(
                ErrorKind::InconsistentFiles(format!(
                    "file {n}: v1 {} ({} bytes at {oa}) vs v2 {} ({} bytes at {ob})",
                    fa.path.join("/"),
                    fa.length,
                    fb.path.join("/"),
                    fb.length
                )),
                format!("info.files[{ia}]"),
            ));
        }
    }
    Ok(())
}

fn parse_piece_layers(
    value: Option<&Value<'_>>,
    info: &Info,
) -> Result<BTreeMap<MerkleHash, Vec<MerkleHash>>, Error> {
    let mut out = BTreeMap::new();
    let Some(value) = value else {
        return Ok(out);
    };
    let field = "piece layers";
    let dict = value
        .as_dict()
        .ok_or_else(|| Error::new(ErrorKind::InvalidPieceLayer("not a dictionary"), field))?;
    let by_root: HashMap<MerkleHash, &FileEntry> = info
        .files
        .iter()
        .filter_map(|f| f.pieces_root.map(|r| (r, f)))
        .collect();
    for (key, layer) in dict.iter() {
        let bad = |why| Error::new(ErrorKind::InvalidPieceLayer(why), field);
        let root: [u8; 32] = key.try_into().map_err(|_| bad("key is not 32 bytes"))?;
        let root = MerkleHash(root);
        let bytes = layer
            .as_bytes()
            .ok_or_else(|| bad("value is not a byte string"))?;
        let hashes =
            merkle::split_layer(bytes).ok_or_else(|| bad("length not a multiple of 32"))?;
        let file = by_root
            .get(&root)
            .filter(|f| f.length > info.piece_length)
            .ok_or_else(|| bad("no file larger than one piece has this pieces root"))?;
        if hashes.len() as u64 != file.v2_piece_count(info.piece_length) {
            return Err(bad("wrong number of hashes for the file"));
        }
        let computed = merkle::root_from_piece_layer(hashes.clone(), info.piece_length);
        if computed != root {
            return Err(bad("hashes do not match the file's pieces root"));
        }
        out.insert(root, hashes);
    }
    Ok(out)
}

fn trackers(root: &Dict<'_>) -> Vec<Vec<String>> {
    let mut tiers = Vec::new();
    if let Some(list) = root.get(b"announce-list").and_then(Value::as_list) {
        for tier in list.iter().filter_map(Value::as_list) {
            let urls: Vec<String> = tier.iter().filter_map(clean_tracker).collect();
            if !urls.is_empty() {
                tiers.push(urls);
            }
        }
    }
    if tiers.is_empty() {
        if let Some(url) = root.get(b"announce").and_then(clean_tracker) {
            tiers.push(vec![url]);
        }
    }
    tiers
}

/// Leading whitespace trimmed; URLs without a `scheme://` or that still contain whitespace or
/// control characters are dropped (libtorrent 2.1 drops `http://tracker1 ` with its trailing
/// space, and `tracker.publicbt.com:80/announce`).
fn clean_tracker(v: &Value<'_>) -> Option<String> {
    let s = std::str::from_utf8(v.as_bytes()?).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let has_scheme = s.split_once("://").is_some_and(|(scheme, _)| {
        scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !has_scheme || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(s.to_owned())
}

fn web_seeds(value: Option<&Value<'_>>, info: &Info) -> Vec<String> {
    let slash = info.layout == Layout::MultiFile && info.files.len() > 1;
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let items: Vec<&[u8]> = match value {
        Some(v) if v.as_bytes().is_some() => v.as_bytes().into_iter().collect(),
        Some(v) => v
            .as_list()
            .map(|l| l.iter().filter_map(Value::as_bytes).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for raw in items {
        if raw.is_empty() {
            continue;
        }
        let mut url = maybe_url_encode(&String::from_utf8_lossy(raw));
        if slash && !url.ends_with('/') {
            url.push('/');
        }
        if seen.insert(url.clone()) {
            out.push(url);
        }
    }
    out
}

/// Percent-encodes the path of `scheme://authority/path` when it has characters outside the
/// URL-safe set (spaces, non-ASCII); leaves anything else untouched.
fn maybe_url_encode(url: &str) -> String {
    const SAFE: &[u8] = b"%+;?:@=&,$/-_!.~*()";
    const KEEP: &[u8] = b"/-_!.~*()";
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = scheme_end + 3;
    let Some(path_start) = url[after..].find('/').map(|i| i + after) else {
        return url.to_owned();
    };
    let path = &url.as_bytes()[path_start..];
    if path
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || SAFE.contains(b))
    {
        return url.to_owned();
    }
    let mut out = url[..path_start].to_owned();
    for &b in path {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn nodes(value: Option<&Value<'_>>) -> Vec<DhtNode> {
    let Some(list) = value.and_then(Value::as_list) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|n| {
            let pair = n.as_list()?;
            let host = std::str::from_utf8(pair.get(0)?.as_bytes()?).ok()?;
            let port = u16::try_from(pair.get(1)?.as_int()?).ok()?;
            Some(DhtNode {
                host: host.to_owned(),
                port,
            })
        })
        .collect()
}

fn similar_hashes(value: Option<&Value<'_>>) -> Vec<InfoHashV1> {
    value
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| <[u8; 20]>::try_from(v.as_bytes()?).ok().map(InfoHashV1))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: Option<&Value<'_>>) -> Vec<String> {
    value
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(lossy).collect())
        .unwrap_or_default()
}

fn strings_or_one(value: Option<&Value<'_>>) -> Vec<String> {
    match value {
        Some(v) if v.as_bytes().is_some() => {
            lossy(v).into_iter().filter(|s| !s.is_empty()).collect()
        }
        other => strings(other)
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

fn text_utf8_twin(dict: &Dict<'_>, key: &[u8]) -> Option<String> {
    let mut twin = key.to_vec();
    twin.extend_from_slice(b".utf-8");
    dict.get(&twin)
        .and_then(lossy)
        .filter(|s| !s.is_empty())
        .or_else(|| dict.get(key).and_then(lossy))
}

fn lossy(v: &Value<'_>) -> Option<String> {
    v.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn wrong_type(expected: &'static str, found: &Value<'_>, field: &str) -> Error {
    Error::new(
        ErrorKind::WrongType {
            expected,
            found: found.type_name(),
        },
        field,
    )
}
