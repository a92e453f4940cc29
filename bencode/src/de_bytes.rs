//! Streaming serde deserializer straight over the input bytes (feature `serde`).
//!
//! It uses the decoder's own `nom` parsers and limits, so it accepts exactly what
//! [`decode`](crate::decode) accepts, but it builds no [`Value`](crate::Value) tree: strings go
//! to the visitor as borrowed `&'de [u8]` / `&'de str` as they are parsed. Values the target
//! type ignores are still fully validated.

use serde::de::{self, DeserializeSeed, Visitor};

use crate::de::KeyDeserializer;
use crate::decode::{DecodeOptions, PError, Parser, byte_string, integer, to_error};
use crate::error::{Error, ErrorKind};

/// Decodes `input` (strictly, default limits, no trailing bytes) into a `T`, without building
/// an intermediate tree. `T` may borrow `&str` / `&[u8]` fields from `input`.
///
/// # Errors
/// Any error [`decode`](crate::decode) would report, and type mismatches reported by `T`, with
/// the byte offset and the path (`info.files[3].length`).
pub fn from_bytes<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T, Error> {
    from_bytes_with(input, DecodeOptions::default())
}

/// [`from_bytes`] with custom limits.
///
/// # Errors
/// As [`from_bytes`].
pub fn from_bytes_with<'de, T: de::Deserialize<'de>>(
    input: &'de [u8],
    options: DecodeOptions,
) -> Result<T, Error> {
    let mut stream = Stream {
        parser: Parser::new(input, options),
        input,
        pos: 0,
        path: Vec::new(),
    };
    let value = T::deserialize(&mut stream)?;
    if stream.pos != input.len() {
        return Err(Error::new(ErrorKind::TrailingBytes, stream.pos));
    }
    Ok(value)
}

/// One step of the document path.
enum Seg<'de> {
    Key(&'de [u8]),
    Index(usize),
}

struct Stream<'de> {
    parser: Parser<'de>,
    input: &'de [u8],
    pos: usize,
    path: Vec<Seg<'de>>,
}

impl<'de> Stream<'de> {
    #[inline]
    fn rest(&self) -> &'de [u8] {
        &self.input[self.pos..]
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(&String::from_utf8_lossy(k));
                }
                Seg::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }

    fn locate(&self, e: Error, at: usize) -> Error {
        e.locate(at, || self.path_string())
    }

    fn grammar(&self, e: nom::Err<PError>) -> Error {
        self.locate(to_error(self.input, e), self.pos)
    }

    /// Advances `pos` to where a nom parser left off.
    #[inline]
    fn advance_to(&mut self, rest: &'de [u8]) {
        self.pos = self.input.len() - rest.len();
    }

    #[inline]
    fn parse_int(&mut self) -> Result<i64, Error> {
        let rest = self.rest();
        self.parser.count_item(rest).map_err(|e| self.grammar(e))?;
        let (rest, n) = integer(&rest[1..]).map_err(|e| self.grammar(e))?;
        self.advance_to(rest);
        Ok(n)
    }

    #[inline]
    fn parse_bytes(&mut self) -> Result<&'de [u8], Error> {
        let rest = self.rest();
        self.parser.count_item(rest).map_err(|e| self.grammar(e))?;
        let (rest, b) = byte_string(rest).map_err(|e| self.grammar(e))?;
        self.advance_to(rest);
        Ok(b)
    }

    /// Validates and skips one value (building, then dropping, a tree for containers).
    fn skip(&mut self) -> Result<(), Error> {
        let (rest, _) = self
            .parser
            .value(self.rest())
            .map_err(|e| self.grammar(e))?;
        self.advance_to(rest);
        Ok(())
    }

    /// Counts and enters a container whose opening byte is at `pos`.
    #[inline]
    fn open(&mut self) -> Result<(), Error> {
        let rest = self.rest();
        self.parser.count_item(rest).map_err(|e| self.grammar(e))?;
        self.parser.enter(rest).map_err(|e| self.grammar(e))?;
        self.pos += 1;
        Ok(())
    }

    /// Consumes the closing `e` of a container.
    #[inline]
    fn close(&mut self) {
        self.pos += 1;
        self.parser.depth_left += 1;
    }

    fn wrong(&self, expected: &'static str) -> Error {
        let found = match self.peek() {
            Some(b'i') => "integer",
            Some(b'0'..=b'9') => "byte string",
            Some(b'l') => "list",
            Some(b'd') => "dictionary",
            _ => return self.grammar(PError::unexpected(self.rest())),
        };
        self.locate(
            Error::unlocated(ErrorKind::WrongType { expected, found }),
            self.pos,
        )
    }

    fn list<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        self.open()?;
        let value = visitor
            .visit_seq(SeqAccess { de: self, index: 0 })
            .map_err(|e| self.locate(e, start))?;
        // A visitor may stop early (tuples): validate and skip what is left.
        loop {
            match self.peek() {
                Some(b'e') => break,
                None => return Err(self.grammar(PError::unexpected(self.rest()))),
                Some(_) => self.skip()?,
            }
        }
        self.close();
        Ok(value)
    }

    fn dict<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        self.open()?;
        let mut access = MapAccess {
            de: self,
            prev: None,
            sorted: true,
        };
        let value = visitor
            .visit_map(&mut access)
            .map_err(|e| access.de.locate(e, start))?;
        // Validate and skip entries the visitor did not ask for.
        while access.raw_key()?.is_some() {
            access.check_value_present()?;
            access.de.skip()?;
        }
        let sorted = access.sorted;
        self.close();
        if !sorted {
            self.check_unsorted_dict(start)?;
        }
        Ok(value)
    }

    /// Keys were out of order, so duplicates may be far apart: re-validate the whole
    /// dictionary with the tree decoder (rare; canonical input never gets here).
    fn check_unsorted_dict(&mut self, start: usize) -> Result<(), Error> {
        let (items, depth) = (self.parser.items_left, self.parser.depth_left);
        self.parser.items_left = usize::MAX;
        self.parser.depth_left = DecodeOptions::MAX_DEPTH_CEILING;
        let result = self.parser.value(&self.input[start..]);
        self.parser.items_left = items;
        self.parser.depth_left = depth;
        result.map(|_| ()).map_err(|e| self.grammar(e))
    }
}

impl<'de> de::Deserializer<'de> for &mut Stream<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        match self.peek() {
            Some(b'i') => {
                let n = self.parse_int()?;
                visitor.visit_i64(n).map_err(|e| self.locate(e, start))
            }
            Some(b'0'..=b'9') => {
                let b = self.parse_bytes()?;
                visitor
                    .visit_borrowed_bytes(b)
                    .map_err(|e| self.locate(e, start))
            }
            Some(b'l') => self.list(visitor),
            Some(b'd') => self.dict(visitor),
            _ => Err(self.grammar(PError::unexpected(self.rest()))),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        if self.peek() != Some(b'i') {
            return Err(self.wrong("integer 0 or 1"));
        }
        match self.parse_int()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            _ => Err(Error::unlocated(ErrorKind::WrongType {
                expected: "integer 0 or 1",
                found: "integer",
            })),
        }
        .map_err(|e| self.locate(e, start))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.wrong("a one-character string"));
        }
        let b = self.parse_bytes()?;
        let mut chars = std::str::from_utf8(b).unwrap_or("").chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(Error::unlocated(ErrorKind::WrongType {
                expected: "a one-character string",
                found: "byte string",
            })),
        }
        .map_err(|e| self.locate(e, start))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.wrong("byte string"));
        }
        let b = self.parse_bytes()?;
        match std::str::from_utf8(b) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => Err(Error::unlocated(ErrorKind::Message(
                "byte string is not valid UTF-8".to_owned(),
            ))),
        }
        .map_err(|e| self.locate(e, start))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // A value that is present is `Some`; absent fields become `None` via serde's derive.
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        self.skip()?;
        visitor.visit_unit().map_err(|e| self.locate(e, start))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek() == Some(b'l') {
            self.list(visitor)
        } else {
            Err(self.wrong("list"))
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek() == Some(b'd') {
            self.dict(visitor)
        } else {
            Err(self.wrong("dictionary"))
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let start = self.pos;
        match self.peek() {
            Some(b'0'..=b'9') => {
                let tag = self.parse_bytes()?;
                visitor
                    .visit_enum(EnumAccess {
                        de: self,
                        tag,
                        content: false,
                    })
                    .map_err(|e| self.locate(e, start))
            }
            Some(b'd') => {
                self.open()?;
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.wrong("enum variant name"));
                }
                let tag = self.parse_bytes()?;
                self.path.push(Seg::Key(tag));
                let value = visitor.visit_enum(EnumAccess {
                    de: &mut *self,
                    tag,
                    content: true,
                });
                let value = value.map_err(|e| self.locate(e, start));
                self.path.pop();
                let value = value?;
                if self.peek() != Some(b'e') {
                    return Err(self.locate(
                        Error::unlocated(ErrorKind::Message(
                            "an enum dictionary must have exactly one entry".to_owned(),
                        )),
                        self.pos,
                    ));
                }
                self.close();
                Ok(value)
            }
            _ => Err(self.wrong("enum (a byte string or a one-entry dictionary)")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return self.deserialize_any(visitor);
        }
        let b = self.parse_bytes()?;
        match std::str::from_utf8(b) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(b),
        }
        .map_err(|e| self.locate(e, start))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

struct SeqAccess<'s, 'de> {
    de: &'s mut Stream<'de>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.de.peek() {
            Some(b'e') => return Ok(None),
            None => return Err(self.de.grammar(PError::unexpected(self.de.rest()))),
            Some(_) => {}
        }
        let at = self.de.pos;
        self.de.path.push(Seg::Index(self.index));
        self.index += 1;
        let result = seed
            .deserialize(&mut *self.de)
            .map_err(|e| self.de.locate(e, at));
        self.de.path.pop();
        result.map(Some)
    }
}

struct MapAccess<'s, 'de> {
    de: &'s mut Stream<'de>,
    prev: Option<&'de [u8]>,
    sorted: bool,
}

impl<'de> MapAccess<'_, 'de> {
    /// Parses the next key (checking order and duplicates), or `None` at the closing `e`.
    #[inline]
    fn raw_key(&mut self) -> Result<Option<&'de [u8]>, Error> {
        let de = &mut *self.de;
        match de.peek() {
            Some(b'e') => Ok(None),
            Some(b'0'..=b'9') => {
                let at = de.pos;
                let key = de.parse_bytes()?;
                if let Some(prev) = self.prev {
                    match key.cmp(prev) {
                        std::cmp::Ordering::Greater => {}
                        std::cmp::Ordering::Less => self.sorted = false,
                        std::cmp::Ordering::Equal => {
                            return Err(de.locate(Error::new(ErrorKind::DuplicateKey, at), at));
                        }
                    }
                }
                self.prev = Some(key);
                Ok(Some(key))
            }
            Some(b'i' | b'l' | b'd') => {
                Err(de.grammar(PError::at(de.rest(), ErrorKind::KeyNotBytes)))
            }
            _ => Err(de.grammar(PError::unexpected(de.rest()))),
        }
    }

    /// A key must be followed by a value, not by `e` or the end of input.
    #[inline]
    fn check_value_present(&self) -> Result<(), Error> {
        match self.de.peek() {
            Some(b'e') | None => Err(self.de.grammar(PError::unexpected(self.de.rest()))),
            Some(_) => Ok(()),
        }
    }
}

impl<'de> de::MapAccess<'de> for &mut MapAccess<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(key) = self.raw_key()? else {
            return Ok(None);
        };
        self.de.path.push(Seg::Key(key));
        seed.deserialize(KeyDeserializer { key }).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        // `next_key_seed` pushed this entry's path segment.
        let result = self.check_value_present().and_then(|()| {
            let at = self.de.pos;
            seed.deserialize(&mut *self.de)
                .map_err(|e| self.de.locate(e, at))
        });
        self.de.path.pop();
        result
    }
}

struct EnumAccess<'s, 'de> {
    de: &'s mut Stream<'de>,
    tag: &'de [u8],
    content: bool,
}

impl<'s, 'de> de::EnumAccess<'de> for EnumAccess<'s, 'de> {
    type Error = Error;
    type Variant = VariantAccess<'s, 'de>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), Error> {
        let v = seed.deserialize(KeyDeserializer { key: self.tag })?;
        Ok((
            v,
            VariantAccess {
                de: self.de,
                content: self.content,
            },
        ))
    }
}

struct VariantAccess<'s, 'de> {
    de: &'s mut Stream<'de>,
    content: bool,
}

impl VariantAccess<'_, '_> {
    fn need_content(&self) -> Result<(), Error> {
        if self.content {
            self.check_present()
        } else {
            Err(self.de.locate(
                Error::unlocated(ErrorKind::WrongType {
                    expected: "enum variant with content (a one-entry dictionary)",
                    found: "byte string",
                }),
                self.de.pos,
            ))
        }
    }

    fn check_present(&self) -> Result<(), Error> {
        match self.de.peek() {
            Some(b'e') | None => Err(self.de.grammar(PError::unexpected(self.de.rest()))),
            Some(_) => Ok(()),
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        if self.content {
            Err(self.de.wrong("unit variant (a byte string)"))
        } else {
            Ok(())
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        self.need_content()?;
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.need_content()?;
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.need_content()?;
        de::Deserializer::deserialize_map(&mut *self.de, visitor)
    }
}
