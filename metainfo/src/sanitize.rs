//! Path sanitisation: how untrusted path elements from a `.torrent` become safe file names.
//!
//! The rule (the same one libtorrent 2.1 applies, restated):
//!
//! * every element is cleaned on its own and can never contain a separator: `/` and `\` are
//!   removed, never interpreted;
//! * invalid UTF-8 (bad lead byte, truncated or overlong sequence, surrogate, > U+10FFFF) and
//!   control characters (C0, DEL, C1) become `_`;
//! * NUL and invisible/bidirectional formatting characters (U+061C, U+200B–U+200F,
//!   U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF) are removed;
//! * an element longer than 240 bytes is cut at 240 bytes (never inside a UTF-8 sequence) and
//!   a short extension (a `.` in the last 9 bytes) is kept;
//! * in [`Mode::Forced`] (file path elements) an element that is `.`, `..`, empty, or empty
//!   after cleaning becomes `_`; in [`Mode::Lenient`] (the torrent name) such an element
//!   disappears.
//!
//! Hence a sanitised path is a list of plain names, none of which is `.`, `..` or empty, so
//! joining it under a directory can never leave that directory.

/// How an element that cleans to nothing (or to `.`/`..`) is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The element is dropped (used for the torrent name).
    Lenient,
    /// The element becomes `_` (used for file path elements).
    Forced,
}

/// Longest element kept, in bytes, before the extension is re-appended.
const MAX_ELEMENT: usize = 240;

/// Cleans one path element. Returns `None` when the element vanishes ([`Mode::Lenient`] only).
///
/// ```
/// use freshet_metainfo::sanitize::{sanitize_element, Mode};
/// assert_eq!(sanitize_element(b"..", Mode::Forced).as_deref(), Some("_"));
/// assert_eq!(sanitize_element(b"..", Mode::Lenient), None);
/// assert_eq!(sanitize_element(b"a/../b", Mode::Forced).as_deref(), Some("a..b"));
/// assert_eq!(sanitize_element(b"bad\xff.txt", Mode::Forced).as_deref(), Some("bad_.txt"));
/// ```
#[must_use]
pub fn sanitize_element(element: &[u8], mode: Mode) -> Option<String> {
    let forced = || match mode {
        Mode::Forced => Some("_".to_owned()),
        Mode::Lenient => None,
    };
    if element == b"." || element.is_empty() {
        return forced();
    }
    // Fast path: short valid UTF-8 with nothing to filter or replace is kept as is.
    if element.len() <= MAX_ELEMENT {
        if let Ok(text) = std::str::from_utf8(element) {
            if text.chars().all(|c| !is_filtered(c) && is_valid_char(c)) {
                if text.bytes().all(|b| b == b'.') && text.len() <= 2 {
                    return forced();
                }
                return Some(text.to_owned());
            }
        }
    }
    let mut out = String::with_capacity(element.len().min(MAX_ELEMENT + 16));
    let mut dots = 0usize;
    let mut found_extension = false;
    let mut i = 0usize;
    while i < element.len() {
        let (cp, len) = parse_codepoint(&element[i..]);
        let start = i;
        i += len;
        match cp {
            Some(c) if is_filtered(c) => continue,
            Some(c) if is_valid_char(c) => {
                out.push(c);
                if c == '.' {
                    dots += 1;
                }
            }
            _ => out.push('_'),
        }
        if out.len() >= MAX_ELEMENT && !found_extension {
            // Keep a short extension: a '.' within the last 9 bytes, after this position.
            let lower = element.len().saturating_sub(10).max(start);
            let dot = (lower + 1..element.len())
                .rev()
                .find(|&j| element[j] == b'.');
            match dot {
                Some(j) => {
                    found_extension = true;
                    i = j;
                }
                None => break,
            }
        }
    }
    if out.len() == dots && dots <= 2 {
        return forced();
    }
    Some(out)
}

/// Cleans a list of path elements in [`Mode::Forced`]: the result never escapes its root.
#[must_use]
pub fn sanitize_path<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<String> {
    elements
        .into_iter()
        .filter_map(|e| sanitize_element(e, Mode::Forced))
        .collect()
}

/// Decodes one UTF-8 sequence the way libtorrent does: `(None, n)` for an invalid sequence
/// of `n` bytes (a bad lead byte consumes 1 byte, a bad sequence its whole declared length,
/// a truncated one the rest of the input).
fn parse_codepoint(bytes: &[u8]) -> (Option<char>, usize) {
    let lead = bytes[0];
    let len = match lead {
        0x00..=0x7f => return (Some(char::from(lead)), 1),
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        0xf8..=0xfb => 5,
        0xfc..=0xfd => 6,
        _ => return (None, 1),
    };
    if len > bytes.len() {
        return (None, bytes.len());
    }
    if len > 4 || bytes[1..len].iter().any(|b| b & 0xc0 != 0x80) {
        return (None, len);
    }
    match std::str::from_utf8(&bytes[..len]) {
        Ok(s) => (s.chars().next(), len),
        Err(_) => (None, len),
    }
}

/// Characters removed outright: separators, NUL, and invisible or bidi formatting marks.
fn is_filtered(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | '\0'
            | '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// Characters kept as they are (everything but C0, DEL and C1 controls).
fn is_valid_char(c: char) -> bool {
    !c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forced(b: &[u8]) -> String {
        sanitize_element(b, Mode::Forced).unwrap()
    }

    #[test]
    fn separators_inside_an_element_are_removed_not_interpreted() {
        assert_eq!(forced(b"foo/../../../bar"), "foo......bar");
        assert_eq!(forced(b"abc/../../def"), "abc....def");
        assert_eq!(forced(b"/"), "_");
        assert_eq!(forced(b"\\"), "_");
        assert_eq!(forced(b"//\\"), "_");
        assert_eq!(sanitize_element(b"//\\", Mode::Lenient), None);
        assert_eq!(forced(b"\\c"), "c");
        assert_eq!(
            sanitize_element(b"test2/../test3/.././../../test4", Mode::Lenient).unwrap(),
            "test2..test3.......test4"
        );
        assert_eq!(
            sanitize_element(b"/test1/test2/test3", Mode::Lenient).unwrap(),
            "test1test2test3"
        );
    }

    #[test]
    fn dot_elements_become_underscore_in_forced_mode_only() {
        assert_eq!(forced(b"."), "_");
        assert_eq!(forced(b".."), "_");
        assert_eq!(forced(b""), "_");
        assert_eq!(forced(b"/.."), "_");
        assert_eq!(forced(b"..."), "...");
        assert_eq!(forced(b"a...b"), "a...b");
        assert_eq!(sanitize_element(b".", Mode::Lenient), None);
        assert_eq!(sanitize_element(b"..", Mode::Lenient), None);
        assert_eq!(sanitize_element(b"", Mode::Lenient), None);
        assert_eq!(
            sanitize_path([&b"a"[..], b"..", b"c"]),
            vec!["a".to_owned(), "_".into(), "c".into()]
        );
    }

    #[test]
    fn invalid_utf8_and_controls_become_underscore() {
        assert_eq!(forced(b"a\xc0\xaeb"), "a_b");
        assert_eq!(forced(b"a\xe0\x80\xaeb"), "a_b");
        assert_eq!(forced(b"a\xf0\x80\x80\xaeb"), "a_b");
        assert_eq!(forced(b"a\xf8\x88\x80\x80\x80b"), "a_b");
        assert_eq!(forced(b"a\xed\xa0\x80b"), "a_b");
        assert_eq!(forced(b"a\xe2\x82"), "a_");
        assert_eq!(forced(b"a\x7fb"), "a_b");
        assert_eq!(forced(b"a\xc2\x80b"), "a_b");
        assert_eq!(forced(b"a\xc2\x9fb"), "a_b");
        assert_eq!(forced(b"\x08"), "_");
        assert_eq!(forced(b"file\x80.foo"), "file_.foo");
        assert_eq!(forced("π😀é".as_bytes()), "π😀é");
        assert_eq!(forced(b"foo:bar"), "foo:bar");
    }

    #[test]
    fn nul_and_invisible_formatting_characters_are_removed() {
        assert_eq!(forced(b"a\x00b"), "ab");
        for c in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{200e}', '\u{202b}', '\u{2060}', '\u{2062}',
            '\u{2066}', '\u{2069}', '\u{061c}', '\u{feff}',
        ] {
            assert_eq!(forced(format!("a{c}b").as_bytes()), "ab", "{c:?}");
        }
        assert_eq!(sanitize_element(b"\0\0\0\0", Mode::Lenient), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_safe_element(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let out = sanitize_element(&bytes, Mode::Forced).unwrap();
            proptest::prop_assert!(!out.is_empty() && out != "." && out != "..");
            proptest::prop_assert!(!out.contains('/') && !out.contains('\\') && !out.contains('\0'));
            proptest::prop_assert!(!out.chars().any(char::is_control));
            proptest::prop_assert!(out.len() <= MAX_ELEMENT + 16);
            if let Some(lenient) = sanitize_element(&bytes, Mode::Lenient) {
                proptest::prop_assert_eq!(lenient, out);
            }
        }
    }

    #[test]
    fn long_elements_are_cut_keeping_the_extension() {
        let long = format!("{}.test", "x".repeat(250));
        assert_eq!(forced(long.as_bytes()), format!("{}.test", "x".repeat(240)));
        let long = format!("{}.jpg", "é".repeat(130));
        assert_eq!(forced(long.as_bytes()), format!("{}.jpg", "é".repeat(120)));
        assert_eq!(forced("x".repeat(300).as_bytes()), "x".repeat(240));
        // libtorrent's long_name.torrent: 300 bytes ending in ".23456789".
        let name = format!(
            "{}.23456789",
            "abcdefghij0123456789".repeat(15).get(..291).unwrap()
        );
        let out = forced(name.as_bytes());
        assert_eq!(out.len(), 249);
        assert!(out.ends_with("0123456789.23456789"));
    }
}
