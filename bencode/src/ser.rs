//! serde `Serializer`: any `Serialize` type to canonical bencode (feature `serde`).
//!
//! Mapping: integers and `bool` (0/1) to integers; `str`, `char` and bytes
//! (`serde_bytes`) to byte strings; sequences and tuples to lists; maps and structs to
//! dictionaries with sorted keys; `None` and `()` are omitted from dictionaries (and are an
//! error inside a list or at the top level); a unit enum variant is its name, other variants
//! are `{name: content}`. Floats, and integers outside `i64`, are errors.

use std::fmt::Display;
use std::ops::Range;

use serde::ser::{self, Serialize};

use crate::encode::write_bytes;
use crate::encode::write_int;
use crate::error::{Error, ErrorKind};
use crate::value::{OwnedValue, Value};

/// Serializes `value` to canonical bencode.
///
/// # Errors
/// Floats, integers outside `i64`, map keys that are not strings or bytes, duplicate map
/// keys, `None` inside a list or at the top level, and errors from `Serialize` impls.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut ser = Serializer::new();
    value.serialize(&mut ser)?;
    if ser.out.is_empty() {
        return Err(msg("a top-level None or () has no bencode form"));
    }
    Ok(ser.into_inner())
}

/// A serde serializer writing canonical bencode into a `Vec<u8>`.
#[derive(Debug, Default)]
pub struct Serializer {
    out: Vec<u8>,
}

impl Serializer {
    /// A serializer with an empty output buffer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    #[must_use]
    pub fn into_inner(self) -> Vec<u8> {
        self.out
    }
}

fn msg(m: &str) -> Error {
    Error::unlocated(ErrorKind::Message(m.to_owned()))
}

fn overflow() -> Error {
    Error::unlocated(ErrorKind::IntegerOverflow)
}

impl ser::Error for Error {
    fn custom<T: Display>(m: T) -> Self {
        Self::unlocated(ErrorKind::Message(m.to_string()))
    }
}

impl<'s> ser::Serializer for &'s mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = SeqSer<'s>;
    type SerializeTuple = SeqSer<'s>;
    type SerializeTupleStruct = SeqSer<'s>;
    type SerializeTupleVariant = SeqSer<'s>;
    type SerializeMap = MapSer<'s>;
    type SerializeStruct = MapSer<'s>;
    type SerializeStructVariant = MapSer<'s>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        write_int(&mut self.out, i64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_int(&mut self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.serialize_i64(i64::try_from(v).map_err(|_| overflow())?)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.serialize_i64(i64::try_from(v).map_err(|_| overflow())?)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.serialize_i64(i64::try_from(v).map_err(|_| overflow())?)
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(msg("bencode has no floating point numbers"))
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(msg("bencode has no floating point numbers"))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_bytes(&mut self.out, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        write_bytes(&mut self.out, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'd');
        write_bytes(&mut self.out, variant.as_bytes());
        let before = self.out.len();
        value.serialize(&mut *self)?;
        if self.out.len() == before {
            return Err(msg("an enum variant cannot hold None or ()"));
        }
        self.out.push(b'e');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqSer<'s>, Error> {
        self.out.push(b'l');
        Ok(SeqSer {
            ser: self,
            variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer<'s>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer<'s>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<SeqSer<'s>, Error> {
        self.out.push(b'd');
        write_bytes(&mut self.out, variant.as_bytes());
        self.out.push(b'l');
        Ok(SeqSer {
            ser: self,
            variant: true,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer<'s>, Error> {
        self.out.push(b'd');
        let start = self.out.len();
        Ok(MapSer {
            ser: self,
            start,
            entries: Vec::new(),
            pending_key: None,
            variant: false,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer<'s>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapSer<'s>, Error> {
        self.out.push(b'd');
        write_bytes(&mut self.out, variant.as_bytes());
        let mut map = self.serialize_map(Some(len))?;
        map.variant = true;
        Ok(map)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// Serializes lists (and tuple variants, which close one extra dictionary).
#[derive(Debug)]
pub struct SeqSer<'s> {
    ser: &'s mut Serializer,
    variant: bool,
}

impl SeqSer<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let before = self.ser.out.len();
        value.serialize(&mut *self.ser)?;
        if self.ser.out.len() == before {
            return Err(msg("a list cannot hold None or ()"));
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        self.ser.out.push(b'e');
        if self.variant {
            self.ser.out.push(b'e');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for SeqSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Serializes dictionaries: entries are written in call order, then re-ordered by key at the
/// end if they were not already sorted.
#[derive(Debug)]
pub struct MapSer<'s> {
    ser: &'s mut Serializer,
    /// Where the first entry starts in the output.
    start: usize,
    /// (key content, whole entry) ranges in the output.
    entries: Vec<(Range<usize>, Range<usize>)>,
    /// Entry start and key content range of a key awaiting its value.
    pending_key: Option<(usize, Range<usize>)>,
    variant: bool,
}

impl MapSer<'_> {
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let entry_start = self.ser.out.len();
        key.serialize(KeySer {
            out: &mut self.ser.out,
        })?;
        // The key was written as `<len>:<bytes>`; find where its content starts.
        let written = &self.ser.out[entry_start..];
        let colon = written.iter().position(|&b| b == b':').unwrap_or(0);
        self.pending_key = Some((entry_start, entry_start + colon + 1..self.ser.out.len()));
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Some((entry_start, key)) = self.pending_key.take() else {
            return Err(msg("serialize_value called before serialize_key"));
        };
        let before = self.ser.out.len();
        value.serialize(&mut *self.ser)?;
        if self.ser.out.len() == before {
            // None or (): omit the whole entry.
            self.ser.out.truncate(entry_start);
        } else {
            self.entries.push((key, entry_start..self.ser.out.len()));
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        let out = &mut self.ser.out;
        let sorted = self
            .entries
            .windows(2)
            .all(|w| out[w[0].0.clone()] < out[w[1].0.clone()]);
        if !sorted {
            let region = out.split_off(self.start);
            let base = self.start;
            let mut entries = self.entries;
            let key_of = |r: &Range<usize>| &region[r.start - base..r.end - base];
            entries.sort_by(|a, b| key_of(&a.0).cmp(key_of(&b.0)));
            if entries
                .windows(2)
                .any(|w| key_of(&w[0].0) == key_of(&w[1].0))
            {
                return Err(Error::unlocated(ErrorKind::DuplicateKey));
            }
            for (_, entry) in &entries {
                out.extend_from_slice(&region[entry.start - base..entry.end - base]);
            }
        }
        out.push(b'e');
        if self.variant {
            out.push(b'e');
        }
        Ok(())
    }
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for MapSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapSer<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Serializes a dictionary key: strings, bytes and chars only.
struct KeySer<'o> {
    out: &'o mut Vec<u8>,
}

fn bad_key() -> Error {
    msg("dictionary keys must be strings or bytes")
}

impl ser::Serializer for KeySer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_bytes(self.out, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        write_bytes(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_bool(self, _v: bool) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_i8(self, _v: i8) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_i16(self, _v: i16) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_i32(self, _v: i32) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_i64(self, _v: i64) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_u8(self, _v: u8) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_u16(self, _v: u16) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_u32(self, _v: u32) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_u64(self, _v: u64) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(bad_key())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(bad_key())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(bad_key())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(bad_key())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(bad_key())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(bad_key())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(bad_key())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(bad_key())
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(i) => s.serialize_i64(*i),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(l) => s.collect_seq(l.iter()),
            Value::Dict(d) => s.collect_map(d.iter().map(|(k, v)| (RawBytes(k), v))),
        }
    }
}

impl Serialize for OwnedValue {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(i) => s.serialize_i64(*i),
            Self::Bytes(b) => s.serialize_bytes(b),
            Self::List(l) => s.collect_seq(l),
            Self::Dict(d) => s.collect_map(d.iter().map(|(k, v)| (RawBytes(k), v))),
        }
    }
}

/// Serializes a byte slice with `serialize_bytes` (not as a sequence of integers).
struct RawBytes<'b>(&'b [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}
