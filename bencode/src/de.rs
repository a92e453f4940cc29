//! serde `Deserializer` over an already decoded [`Value`] tree (feature `serde`); see
//! `de_bytes` for the streaming one behind `from_bytes`.
//!
//! Byte strings are handed to visitors as borrowed `&'de [u8]` / `&'de str`, so
//! `#[derive(Deserialize)]` structs can hold `&[u8]` and `&str` fields that point into the
//! input. Errors carry the byte offset and the document path (`info.files[3].length`).

use std::fmt::{self, Display};

use serde::de::{self, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;

use crate::error::{Error, ErrorKind};
use crate::value::{Dict, List, OwnedValue, Value};

/// Deserializes a `T` from an already decoded value (for example one sub-dictionary).
/// Offsets in errors are exact for containers and byte strings; an integer reports the offset
/// of the container holding it.
///
/// # Errors
/// Type mismatches reported by `T`, with their offset and path.
pub fn from_value<'de, T: de::Deserialize<'de>>(value: &Value<'de>) -> Result<T, Error> {
    let base = match value {
        Value::List(l) => (l.raw().as_ptr() as usize).wrapping_sub(l.offset()),
        Value::Dict(d) => (d.raw().as_ptr() as usize).wrapping_sub(d.offset()),
        Value::Int(_) | Value::Bytes(_) => 0,
    };
    T::deserialize(Deserializer {
        value,
        offset: value_offset(value, base, 0),
        base,
        path: Path::Root,
    })
}

impl de::Error for Error {
    fn custom<T: Display>(m: T) -> Self {
        Self::unlocated(ErrorKind::Message(m.to_string()))
    }
}

/// Where a value sits in the document, as a chain of parent links built on the stack.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Key(&'p Self, &'p [u8]),
    Index(&'p Self, usize),
}

impl Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) => {
                parent.fmt(f)?;
                if !matches!(parent, Path::Root) {
                    f.write_str(".")?;
                }
                write!(f, "{}", String::from_utf8_lossy(key))
            }
            Path::Index(parent, i) => {
                parent.fmt(f)?;
                write!(f, "[{i}]")
            }
        }
    }
}

/// Byte offset of `v` in the input: exact for containers, and for byte strings when `base`
/// (the address of the input's first byte, derived from the root container) is known;
/// otherwise `fallback` (the offset of the enclosing container).
fn value_offset(v: &Value<'_>, base: usize, fallback: usize) -> usize {
    match v {
        Value::List(l) => l.offset(),
        Value::Dict(d) => d.offset(),
        Value::Bytes(b) if base != 0 => {
            // `b` borrows from the input just after its `<len>:` prefix.
            let content = (b.as_ptr() as usize).wrapping_sub(base);
            let prefix = b.len().checked_ilog10().map_or(1, |d| d as usize + 1) + 1;
            content.checked_sub(prefix).unwrap_or(fallback)
        }
        Value::Int(_) | Value::Bytes(_) => fallback,
    }
}

/// Deserializes one value; `offset` is its own offset (containers, strings) or its parent's.
struct Deserializer<'v, 'de> {
    value: &'v Value<'de>,
    offset: usize,
    base: usize,
    path: Path<'v>,
}

impl<'v, 'de> Deserializer<'v, 'de> {
    fn child(&self, value: &'v Value<'de>, path: Path<'v>) -> Self {
        Deserializer {
            value,
            offset: value_offset(value, self.base, self.offset),
            base: self.base,
            path,
        }
    }

    fn locate(&self, e: Error) -> Error {
        e.locate(self.offset, || self.path.to_string())
    }

    fn wrong(&self, expected: &'static str) -> Error {
        self.locate(Error::unlocated(ErrorKind::WrongType {
            expected,
            found: self.value.type_name(),
        }))
    }
}

impl<'v, 'de> de::Deserializer<'de> for Deserializer<'v, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match self.value {
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Bytes(b) => visitor.visit_borrowed_bytes(b),
            Value::List(l) => visitor.visit_seq(SeqAccess {
                list: l,
                next: 0,
                base: self.base,
                path: &self.path,
            }),
            Value::Dict(d) => visitor.visit_map(MapAccess {
                dict: d,
                next: 0,
                base: self.base,
                path: &self.path,
            }),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Int(0) => visitor.visit_bool(false),
            Value::Int(1) => visitor.visit_bool(true),
            _ => Err(self.wrong("integer 0 or 1")),
        }
        .map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(s) = self.value.as_str() {
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return visitor.visit_char(c).map_err(|e| self.locate(e));
            }
        }
        Err(self.wrong("a one-character string"))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s).map_err(|e| self.locate(e)),
                Err(_) => Err(self.locate(Error::unlocated(ErrorKind::Message(
                    "byte string is not valid UTF-8".to_owned(),
                )))),
            },
            _ => Err(self.wrong("byte string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // A value that is present is `Some`; absent fields become `None` via serde's derive.
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit().map_err(|e| self.locate(e))
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
        match self.value {
            Value::List(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong("list")),
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
        match self.value {
            Value::Dict(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong("dictionary")),
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
        match self.value {
            Value::Bytes(_) => visitor
                .visit_enum(EnumAccess {
                    tag: self.value,
                    content: None,
                    outer: &self,
                })
                .map_err(|e| self.locate(e)),
            Value::Dict(d) if d.len() == 1 => {
                let (key, content) = &d.entries[0];
                let tag = Value::Bytes(key);
                visitor
                    .visit_enum(EnumAccess {
                        tag: &tag,
                        content: Some((key, content)),
                        outer: &self,
                    })
                    .map_err(|e| self.locate(e))
            }
            _ => Err(self.wrong("enum (a byte string or a one-entry dictionary)")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(b),
            }
            .map_err(|e| self.locate(e)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

struct SeqAccess<'v, 'de> {
    list: &'v List<'de>,
    next: usize,
    base: usize,
    path: &'v Path<'v>,
}

impl<'v, 'de> de::SeqAccess<'de> for SeqAccess<'v, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.list.get(self.next) else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.next);
        self.next += 1;
        let de = Deserializer {
            value,
            offset: value_offset(value, self.base, self.list.offset()),
            base: self.base,
            path,
        };
        seed.deserialize(de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.list.len() - self.next)
    }
}

struct MapAccess<'v, 'de> {
    dict: &'v Dict<'de>,
    next: usize,
    base: usize,
    path: &'v Path<'v>,
}

impl<'v, 'de> de::MapAccess<'de> for MapAccess<'v, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, _)) = self.dict.entries.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(KeyDeserializer { key }).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.dict.entries.get(self.next) else {
            return Err(Error::new(
                ErrorKind::Message("value requested past the end of a dictionary".to_owned()),
                self.dict.offset(),
            ));
        };
        self.next += 1;
        let de = Deserializer {
            value,
            offset: value_offset(value, self.base, self.dict.offset()),
            base: self.base,
            path: Path::Key(self.path, key),
        };
        seed.deserialize(de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.dict.len() - self.next)
    }
}

/// Dictionary keys: strings when UTF-8, else bytes.
pub(crate) struct KeyDeserializer<'de> {
    pub(crate) key: &'de [u8],
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match std::str::from_utf8(self.key) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(self.key),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.key)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.key)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// Field names: handed over as bytes, which derived field visitors match directly, so
    /// no UTF-8 check is spent on every key.
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.key)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        option unit unit_struct seq tuple tuple_struct map struct enum ignored_any
    }
}

/// Enum access: the tag is a byte string; `content` is present for `{tag: content}`.
struct EnumAccess<'v, 'o, 'de> {
    tag: &'v Value<'de>,
    content: Option<(&'v &'de [u8], &'v Value<'de>)>,
    outer: &'o Deserializer<'v, 'de>,
}

impl<'v, 'o, 'de> de::EnumAccess<'de> for EnumAccess<'v, 'o, 'de> {
    type Error = Error;
    type Variant = VariantAccess<'v, 'o, 'de>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), Error> {
        let tag = match self.tag {
            Value::Bytes(b) => *b,
            _ => &[],
        };
        let v = seed.deserialize(KeyDeserializer { key: tag })?;
        Ok((
            v,
            VariantAccess {
                content: self.content,
                outer: self.outer,
            },
        ))
    }
}

struct VariantAccess<'v, 'o, 'de> {
    content: Option<(&'v &'de [u8], &'v Value<'de>)>,
    outer: &'o Deserializer<'v, 'de>,
}

impl<'v, 'o, 'de> VariantAccess<'v, 'o, 'de> {
    fn content(&self) -> Result<(&'v [u8], &'v Value<'de>), Error> {
        match self.content {
            Some((k, v)) => Ok((k, v)),
            None => Err(self.outer.wrong("enum variant with content")),
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_, '_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.content {
            None => Ok(()),
            Some(_) => Err(self.outer.wrong("unit variant (a byte string)")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let (key, value) = self.content()?;
        seed.deserialize(self.outer.child(value, Path::Key(&self.outer.path, key)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        let (key, value) = self.content()?;
        de::Deserializer::deserialize_seq(
            self.outer.child(value, Path::Key(&self.outer.path, key)),
            visitor,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (key, value) = self.content()?;
        de::Deserializer::deserialize_map(
            self.outer.child(value, Path::Key(&self.outer.path, key)),
            visitor,
        )
    }
}

impl<'de> de::Deserialize<'de> for OwnedValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OwnedVisitor)
    }
}

struct OwnedVisitor;

impl<'de> Visitor<'de> for OwnedVisitor {
    type Value = OwnedValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bencode value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Int(i64::from(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OwnedValue, E> {
        i64::try_from(v)
            .map(OwnedValue::Int)
            .map_err(|_| E::custom("integer does not fit in 64 bits"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Bytes(v.as_bytes().to_vec()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<OwnedValue, E> {
        Ok(OwnedValue::Bytes(v))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OwnedValue, A::Error> {
        // Grow as items arrive: the size hint comes from untrusted input.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OwnedValue::List(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<OwnedValue, A::Error> {
        let mut entries = std::collections::BTreeMap::new();
        while let Some(KeyBytes(k)) = map.next_key()? {
            let v: OwnedValue = map.next_value()?;
            entries.insert(k, v);
        }
        Ok(OwnedValue::Dict(entries))
    }
}

/// A dictionary key read as bytes, whether the format offers it as a string or as bytes.
struct KeyBytes(Vec<u8>);

impl<'de> de::Deserialize<'de> for KeyBytes {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or byte string key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyBytes, E> {
                Ok(KeyBytes(v.as_bytes().to_vec()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KeyBytes, E> {
                Ok(KeyBytes(v.to_vec()))
            }
        }
        d.deserialize_bytes(V)
    }
}
