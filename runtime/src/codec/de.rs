//! Our own serde `Deserializer` for bincode 2's standard format (varint integers, little endian), as
//! `bincode::config::standard()` + serde writes it. Encoding stays with bincode; decoding is ours so
//! that bytes from a peer can never make us allocate more than they carry:
//!
//! - a string or byte-string length larger than the bytes left in the frame is refused before any
//!   allocation;
//! - sequence and map size hints never exceed the bytes left, so `Vec`/map preallocation is bounded
//!   by the frame;
//! - one element budget per decode (frame length + [`EXTRA_ELEMENTS`]) bounds the total number of
//!   sequence elements and map entries, so a tiny frame cannot claim a billion zero-sized elements;
//! - nesting deeper than [`MAX_DEPTH`] is refused, so a crafted frame cannot overflow the stack.
//!
//! Every malformed input is an error, never a panic.
//!
//! Format (bincode 2.0.1 `standard()`): `u8`/`i8` one raw byte; `bool` one byte 0 or 1; wider
//! integers as varints (a first byte below 251 is the value; 251, 252, 253, 254 announce a
//! little-endian u16, u32, u64, u128; a marker wider than the target type is an error; 255 is
//! reserved), signed ones zigzag-encoded; `f32`/`f64` little endian; `char` as its UTF-8 bytes;
//! strings and bytes as a varint u64 length then the bytes; `Option` a tag byte 0/1; enum variants as
//! a varint u32 index; sequences and maps a varint u64 length; tuples and structs their fields in
//! order; unit and unit structs nothing.

use super::pod;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};
use std::fmt;

/// Nesting levels (containers, options, newtypes, enum variants) a frame may have.
pub const MAX_DEPTH: u32 = 256;

/// Sequence elements and map entries a frame may claim beyond one per byte of the frame.
pub const EXTRA_ELEMENTS: u64 = 1 << 20;

/// The error of a `bool` other than 0 or 1.
#[cold]
fn bad_bool(x: u8) -> DeError {
    err(format!("invalid bool {x}: expected 0 or 1"))
}

/// The error of an `Option` tag other than 0 or 1.
#[cold]
fn bad_option_tag(x: u8) -> DeError {
    err(format!("invalid Option tag {x}: expected 0 or 1"))
}

const U16_BYTE: u8 = 251;
const U32_BYTE: u8 = 252;
const U64_BYTE: u8 = 253;
const U128_BYTE: u8 = 254;

/// Why a frame did not decode; `mod.rs` turns it into an [`crate::error::Error`] of kind Codec.
/// A boxed str so that `Result<u8, DeError>` stays small on the hot path.
#[derive(Debug)]
pub struct DeError(Box<str>);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cold]
#[inline(never)]
fn err(msg: String) -> DeError {
    DeError(msg.into_boxed_str())
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        err(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, DeError>;

/// A string as the decoder found it.
enum Str<'de> {
    /// In the main bytes.
    Inline(&'de str),
    /// A bulk part of its own.
    Bulk(String),
}

/// A byte string as the decoder found it.
enum ByteString<'de> {
    /// In the main bytes.
    Inline(&'de [u8]),
    /// A bulk part of its own.
    Bulk(Vec<u8>),
}

/// Reads one value from the front of a frame.
pub struct Decoder<'de> {
    input: &'de [u8],
    /// `input`'s length at the start: the position read so far is this less what is left.
    start: usize,
    budget: u64,
    depth: u32,
    /// The message's bulk byte strings, last first, each with the position in the main bytes where
    /// its bytes would have been (see [`with_bulk`](Self::with_bulk)).
    bulk: Vec<(usize, Vec<u8>)>,
}

impl<'de> Decoder<'de> {
    /// A decoder over `input` with the element budget of a frame that long.
    pub fn new(input: &'de [u8]) -> Decoder<'de> {
        Decoder {
            input,
            start: input.len(),
            budget: (input.len() as u64).saturating_add(EXTRA_ELEMENTS),
            depth: 0,
            bulk: Vec::new(),
        }
    }

    /// A decoder over the main bytes of a message whose bulk byte strings (at least
    /// [`BULK_MIN`](super::BULK_MIN) bytes: byte strings, strings, sequences of `u8`) came apart from
    /// them: `bulk` holds each, in order, with the position in `input` where its bytes would have
    /// been (just after its length, which stays in `input`). A length read at that position takes
    /// its string from `bulk`, as it is, whatever type reads it.
    pub(crate) fn with_bulk(input: &'de [u8], mut bulk: Vec<(usize, Vec<u8>)>) -> Decoder<'de> {
        bulk.reverse();
        Decoder {
            bulk,
            ..Decoder::new(input)
        }
    }

    /// Bulk byte strings not taken yet.
    pub(crate) fn bulk_left(&self) -> usize {
        self.bulk.len()
    }

    /// The next byte string: in the main bytes, or a bulk one.
    #[inline]
    fn byte_string(&mut self) -> Result<ByteString<'de>> {
        let len = self.len()?;
        if let Some(part) = self.bulk_here(len)? {
            return Ok(ByteString::Bulk(part));
        }
        self.inline(len, "byte string").map(ByteString::Inline)
    }

    /// The position in the main bytes.
    #[inline]
    fn pos(&self) -> usize {
        self.start - self.input.len()
    }

    /// The bulk string whose `len` was just read, if its bytes came apart here.
    #[inline]
    fn bulk_here(&mut self, len: u64) -> Result<Option<Vec<u8>>> {
        match self.bulk.last() {
            Some(&(at, _)) if at == self.pos() => {}
            _ => return Ok(None),
        }
        let Some((_, part)) = self.bulk.pop() else {
            return Ok(None);
        };
        if part.len() as u64 != len {
            return Err(err(format!(
                "a byte string claims {len} bytes but its bulk part holds {}",
                part.len()
            )));
        }
        Ok(Some(part))
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    #[cold]
    #[inline(never)]
    fn eof(&self, wanted: usize) -> DeError {
        err(format!(
            "the frame ends early: {wanted} more bytes wanted, {} left",
            self.input.len()
        ))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        if n > self.input.len() {
            return Err(self.eof(n));
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.input.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.input = rest;
                Ok(*head)
            }
            None => Err(self.eof(N)),
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8> {
        match self.input.split_first() {
            Some((&b, rest)) => {
                self.input = rest;
                Ok(b)
            }
            None => Err(self.eof(1)),
        }
    }

    /// A varint of at most `max` marker (251 = u16 ... 254 = u128), widened to u128. Not cold: any
    /// value from 251 up takes this way (most indices and sizes of a large map).
    fn varint_wide(&mut self, first: u8, max: u8, ty: &str) -> Result<u128> {
        if first > max || first == 255 {
            return Err(err(format!("invalid varint marker {first} for a {ty}")));
        }
        Ok(match first {
            U16_BYTE => u16::from_le_bytes(self.array()?) as u128,
            U32_BYTE => u32::from_le_bytes(self.array()?) as u128,
            U64_BYTE => u64::from_le_bytes(self.array()?) as u128,
            _ => u128::from_le_bytes(self.array()?),
        })
    }

    #[inline]
    fn varint(&mut self, max: u8, ty: &str) -> Result<u128> {
        let first = self.byte()?;
        if first < U16_BYTE {
            Ok(first as u128)
        } else {
            self.varint_wide(first, max, ty)
        }
    }

    #[inline]
    fn u64_varint(&mut self) -> Result<u64> {
        // The one-byte form and the common wider forms read in place; anything else (a marker too
        // wide for a u64, or input that ends early) takes the checked way and its error.
        match *self.input {
            [b, ref rest @ ..] if b < U16_BYTE => {
                self.input = rest;
                Ok(b as u64)
            }
            [U16_BYTE, a, b, ref rest @ ..] => {
                self.input = rest;
                Ok(u16::from_le_bytes([a, b]) as u64)
            }
            [U32_BYTE, a, b, c, d, ref rest @ ..] => {
                self.input = rest;
                Ok(u32::from_le_bytes([a, b, c, d]) as u64)
            }
            _ => Ok(self.varint(U64_BYTE, "u64")? as u64),
        }
    }

    #[inline]
    fn u32_varint(&mut self) -> Result<u32> {
        // Enum variant indices and small counts: the one-byte form in place.
        if let [b, ref rest @ ..] = *self.input
            && b < U16_BYTE
        {
            self.input = rest;
            return Ok(b as u32);
        }
        Ok(self.varint(U32_BYTE, "u32")? as u32)
    }

    #[inline]
    fn len(&mut self) -> Result<u64> {
        self.u64_varint()
    }

    /// The `len` bytes of a string or byte string whose length was read.
    #[inline]
    fn inline(&mut self, len: u64, what: &str) -> Result<&'de [u8]> {
        if len > self.input.len() as u64 {
            return Err(err(format!(
                "a {what} claims {len} bytes but only {} are left in the frame",
                self.input.len()
            )));
        }
        self.take(len as usize)
    }

    #[inline]
    fn str(&mut self) -> Result<Str<'de>> {
        let len = self.len()?;
        if let Some(part) = self.bulk_here(len)? {
            return String::from_utf8(part)
                .map(Str::Bulk)
                .map_err(|e| err(format!("a string is not UTF-8: {}", e.utf8_error())));
        }
        let bytes = self.inline(len, "string")?;
        std::str::from_utf8(bytes)
            .map(Str::Inline)
            .map_err(|e| err(format!("a string is not UTF-8: {e}")))
    }

    /// A sequence of `len` plain-data elements of `kind`, as the `Vec` that serde's visitor `V`
    /// would build from them one by one (see [`pod`](super::pod)).
    fn pod_vec<V: Visitor<'de>>(&mut self, kind: pod::Kind, len: u64) -> Result<V::Value> {
        let bytes = len
            .checked_mul(kind.size() as u64)
            .filter(|&n| n <= self.input.len() as u64)
            .ok_or_else(|| {
                err(format!(
                    "a sequence claims {len} elements of {} bytes but only {} bytes are left in the frame",
                    kind.size(),
                    self.input.len()
                ))
            })?;
        let bytes = self.take(bytes as usize)?;
        let value = match kind {
            pod::Kind::U8 => pod::cast(bytes.to_vec()),
            pod::Kind::I8 => pod::cast(pod::vec_from::<i8>(bytes)),
            pod::Kind::F32 => pod::cast(pod::vec_from::<f32>(bytes)),
            pod::Kind::F64 => pod::cast(pod::vec_from::<f64>(bytes)),
        };
        value.ok_or_else(|| err(format!("internal: {kind:?} sequence of another type")))
    }

    /// Charges `len` claimed elements to the budget.
    #[inline]
    fn claim(&mut self, len: u64, what: &str) -> Result<usize> {
        if len > self.budget {
            return Err(err(format!(
                "a {what} claims {len} elements, more than the {} this {}-byte frame may hold",
                self.budget,
                self.input.len()
            )));
        }
        self.budget -= len;
        Ok(len as usize)
    }

    #[inline]
    fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        Ok(())
    }

    #[inline]
    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn char(&mut self) -> Result<char> {
        let first = self.byte()?;
        let width = match first {
            0x00..=0x7f => return Ok(first as char),
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return Err(err(format!("invalid char: first byte {first:#x}"))),
        };
        let mut buf = [first, 0, 0, 0];
        buf[1..width].copy_from_slice(self.take(width - 1)?);
        std::str::from_utf8(&buf[..width])
            .ok()
            .and_then(|s| s.chars().next())
            .ok_or_else(|| err(format!("invalid char encoding {:x?}", &buf[..width])))
    }

    fn unsupported(what: &str) -> DeError {
        err(format!(
            "{what} is not supported by the multiproc codec (bincode format): the type must not use \
             self-describing serde features"
        ))
    }
}

#[inline]
fn unzigzag(n: u128) -> i128 {
    if n % 2 == 0 {
        (n / 2) as i128
    } else {
        !((n / 2) as i128)
    }
}

#[inline]
fn unzigzag64(n: u64) -> i64 {
    if n % 2 == 0 {
        (n / 2) as i64
    } else {
        !((n / 2) as i64)
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Decoder::unsupported("deserialize_any"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            x => Err(bad_bool(x)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i8(self.byte()? as i8)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let n = self.varint(U16_BYTE, "i16")? as u16;
        visitor.visit_i16(unzigzag(n as u128) as i16)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let n = self.varint(U32_BYTE, "i32")? as u32;
        visitor.visit_i32(unzigzag(n as u128) as i32)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let n = self.u64_varint()?;
        visitor.visit_i64(unzigzag64(n))
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let n = self.varint(U128_BYTE, "i128")?;
        visitor.visit_i128(unzigzag(n))
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u8(self.byte()?)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u16(self.varint(U16_BYTE, "u16")? as u16)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u32(self.u32_varint()?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u64(self.u64_varint()?)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u128(self.varint(U128_BYTE, "u128")?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f32(f32::from_le_bytes(self.array()?))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(f64::from_le_bytes(self.array()?))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_char(self.char()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.str()? {
            Str::Inline(s) => visitor.visit_borrowed_str(s),
            Str::Bulk(s) => visitor.visit_str(&s),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.str()? {
            Str::Inline(s) => visitor.visit_borrowed_str(s),
            Str::Bulk(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte_string()? {
            ByteString::Inline(b) => visitor.visit_borrowed_bytes(b),
            ByteString::Bulk(b) => visitor.visit_bytes(&b),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte_string()? {
            ByteString::Inline(b) => visitor.visit_borrowed_bytes(b),
            ByteString::Bulk(b) => visitor.visit_byte_buf(b),
        }
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => {
                self.enter()?;
                let v = visitor.visit_some(&mut *self)?;
                self.leave();
                Ok(v)
            }
            x => Err(bad_option_tag(x)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.enter()?;
        let v = visitor.visit_newtype_struct(&mut *self)?;
        self.leave();
        Ok(v)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let len = self.len()?;
        let kind = pod::vec_kind::<V>();
        if let Some(part) = self.bulk_here(len)? {
            // A sequence of `u8` whose bytes came apart (the only kind that does).
            if kind == Some(pod::Kind::U8) {
                return pod::cast(part)
                    .ok_or_else(|| err("internal: u8 sequence of another type".to_string()));
            }
            self.enter()?;
            let mut access = BulkAccess { part, read: 0 };
            let v = visitor.visit_seq(&mut access)?;
            self.leave();
            if access.read != access.part.len() {
                return Err(err(format!(
                    "a sequence of {} elements was read only to element {}",
                    access.part.len(),
                    access.read
                )));
            }
            return Ok(v);
        }
        if let Some(kind) = kind {
            return self.pod_vec::<V>(kind, len);
        }
        let len = self.claim(len, "sequence")?;
        self.deserialize_tuple(len, visitor)
    }

    #[inline]
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.enter()?;
        let v = visitor.visit_seq(Access { de: self, len })?;
        self.leave();
        Ok(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let len = self.len()?;
        let len = self.claim(len, "map")?;
        self.enter()?;
        let v = visitor.visit_map(Access { de: self, len })?;
        self.leave();
        Ok(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(fields.len(), visitor)
    }

    #[inline]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.enter()?;
        let v = visitor.visit_enum(&mut *self)?;
        self.leave();
        Ok(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Decoder::unsupported("deserialize_identifier"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Decoder::unsupported("deserialize_ignored_any"))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The elements of a sequence of bytes that came apart as a bulk part, for a visitor other than
/// serde's own for `Vec<u8>` (which takes the part as it is): each element is a `u8`.
struct BulkAccess {
    part: Vec<u8>,
    read: usize,
}

impl<'de> SeqAccess<'de> for &mut BulkAccess {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(&b) = self.part.get(self.read) else {
            return Ok(None);
        };
        self.read += 1;
        seed.deserialize(b.into_deserializer()).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.part.len() - self.read)
    }
}

/// Elements of a sequence, tuple or struct, or entries of a map, `len` of them left.
struct Access<'a, 'de> {
    de: &'a mut Decoder<'de>,
    len: usize,
}

impl Access<'_, '_> {
    /// Never more than the bytes left: a hint drives preallocation.
    #[inline]
    fn hint(&self) -> Option<usize> {
        Some(self.len.min(self.de.remaining()))
    }
}

impl<'de> SeqAccess<'de> for Access<'_, 'de> {
    type Error = DeError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

impl<'de> MapAccess<'de> for Access<'_, 'de> {
    type Error = DeError;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

#[cold]
fn too_deep() -> DeError {
    err(format!("the value nests deeper than {MAX_DEPTH} levels"))
}

impl<'de> EnumAccess<'de> for &mut Decoder<'de> {
    type Error = DeError;
    type Variant = Self;

    #[inline]
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let idx = self.u32_varint()?;
        let v = seed.deserialize(idx.into_deserializer())?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for &mut Decoder<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, fields.len(), visitor)
    }
}
