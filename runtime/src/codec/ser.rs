//! Our own serde `Serializer` for bincode 2's standard format, the writing half of [`de`](super::de):
//! it appends to a `Vec<u8>` with plain pushes, and a sequence reserves its length up front. A
//! `Vec<u8>`, `[u8]`, `Vec<f64>`, ... is copied whole in `collect_seq` (see [`pod`](super::pod)),
//! and a `Vec` or slice of wider integers is written as varints in one loop there; other
//! sequences, which serde hands over one element at a time, cost a push per element.
//! The bytes are bincode's, to the bit (`tests/codec_compat.rs` checks every kind of value against
//! bincode itself).
//!
//! Format: see [`de`](super::de).

use serde::ser::{self, Serialize};
use std::fmt;

const U16_BYTE: u8 = 251;
const U32_BYTE: u8 = 252;
const U64_BYTE: u8 = 253;
const U128_BYTE: u8 = 254;

/// Why a value did not encode (a `Serialize` impl failed, or a sequence of unknown length).
#[derive(Debug)]
pub struct SerError(Box<str>);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string().into_boxed_str())
    }
}

type Result<T> = std::result::Result<T, SerError>;

/// Appends `value`'s encoding to `out`; on error `out` may hold part of it (the caller truncates).
#[inline]
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    value.serialize(&mut Encoder { out, spill: None })
}

/// What a [`Spill`] did with a bulk byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spilled {
    /// It took the main bytes so far (and emptied the buffer) and the string.
    Yes,
    /// It took nothing, and wants no more: the string and the rest go into the buffer.
    Declined,
    /// Writing failed: the encoding stops with an error (the spill keeps the reason).
    Failed,
}

/// Where an encoder sends the main bytes so far and each byte string of at least
/// [`BULK_MIN`](super::BULK_MIN) bytes, instead of copying the string into its buffer (the queue's
/// `Stream`). It may decline only before it took anything.
pub(crate) type Spill<'s> = dyn FnMut(&mut Vec<u8>, &[u8]) -> Spilled + 's;

/// As [`encode_into`], handing bulk byte strings to `spill`: `out` then holds only the main bytes
/// after the last one spilled.
pub(crate) fn encode_spilling<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    spill: &mut Spill<'_>,
) -> Result<()> {
    value.serialize(&mut Encoder {
        out,
        spill: Some(spill),
    })
}

/// The serializer: a `Vec` to append to.
pub(crate) struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    spill: Option<&'a mut Spill<'a>>,
}

impl Encoder<'_> {
    #[inline]
    fn varint(&mut self, v: u64) {
        if v < u64::from(U16_BYTE) {
            self.out.push(v as u8);
        } else {
            self.wide(v);
        }
    }

    #[inline]
    fn wide(&mut self, v: u64) {
        let (word, n) = wide_word(v);
        self.word(word, n);
    }

    /// Appends the first `n` bytes of `word` with one unaligned store of the whole word (a
    /// `extend_from_slice` of a few bytes is a call to `memcpy`, which cost more than the rest of
    /// encoding a number).
    #[inline]
    fn word(&mut self, word: [u8; WORD], n: usize) {
        debug_assert!(n <= WORD);
        if self.out.capacity() - self.out.len() < WORD {
            self.out.reserve(WORD);
        }
        let at = self.out.len();
        // SAFETY: at least `WORD` bytes of room past the length (checked above): the whole word
        // fits, of which its first `n` bytes (n <= WORD) count.
        unsafe {
            std::ptr::write_unaligned(self.out.as_mut_ptr().add(at).cast::<[u8; WORD]>(), word);
            self.out.set_len(at + n.min(WORD));
        }
    }

    fn varint128(&mut self, v: u128) {
        match u64::try_from(v) {
            Ok(v) => self.varint(v),
            Err(_) => {
                self.out.push(U128_BYTE);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// The bytes of a byte string or a plain-data sequence whose length was written: handed to the
    /// spill when they are bulk (`spillable`: a byte string, or a sequence of `u8`), else appended.
    #[inline]
    fn raw(&mut self, v: &[u8], spillable: bool) -> Result<()> {
        if spillable
            && v.len() >= super::BULK_MIN
            && let Some(spill) = self.spill.as_mut()
        {
            match spill(self.out, v) {
                Spilled::Yes => return Ok(()),
                Spilled::Failed => {
                    return Err(SerError(
                        "the message could not be written to the queue".into(),
                    ));
                }
                Spilled::Declined => self.spill = None,
            }
        }
        self.out.extend_from_slice(v);
        Ok(())
    }

    /// A sequence of integers as varints, written in one loop into reserved room (at least
    /// `widest` bytes a value, as a hint): the bytes `serialize_u64` would push one by one.
    fn varints(&mut self, widest: usize, values: impl ExactSizeIterator<Item = u64>) {
        self.len(values.len());
        self.out
            .reserve(values.len().saturating_mul(widest).saturating_add(WORD));
        for v in values {
            self.varint(v);
        }
    }

    #[inline]
    fn len(&mut self, len: usize) {
        self.varint(len as u64);
    }

    #[inline]
    fn variant(&mut self, index: u32) {
        self.varint(u64::from(index));
    }
}

/// The longest varint of a `u64`: a marker and 8 bytes.
const WORD: usize = 9;

/// A varint of at least [`U16_BYTE`]: its bytes, of which the first `n` count.
#[inline]
fn wide_word(v: u64) -> ([u8; WORD], usize) {
    let mut word = [0u8; WORD];
    let n = if let Ok(v) = u16::try_from(v) {
        word[0] = U16_BYTE;
        word[1..3].copy_from_slice(&v.to_le_bytes());
        3
    } else if let Ok(v) = u32::try_from(v) {
        word[0] = U32_BYTE;
        word[1..5].copy_from_slice(&v.to_le_bytes());
        5
    } else {
        word[0] = U64_BYTE;
        word[1..9].copy_from_slice(&v.to_le_bytes());
        9
    };
    (word, n)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

impl<'a, 'b> ser::Serializer for &'a mut Encoder<'b> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out.push(u8::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.out.push(v as u8);
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.varint(zigzag(i64::from(v)));
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.varint(zigzag(i64::from(v)));
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.varint(zigzag(v));
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        self.varint128(((v << 1) ^ (v >> 127)) as u128);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.out.push(v);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.varint(u64::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.varint(u64::from(v));
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.varint(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        self.varint128(v);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<()> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<()> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<()> {
        let mut buf = [0u8; 4];
        self.out
            .extend_from_slice(v.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<()> {
        self.serialize_bytes(v.as_bytes())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.len(v.len());
        self.raw(v, true)
    }

    /// `Vec<E>` and `[E]` of plain-data elements are copied whole (see [`pod`](super::pod)): the
    /// same bytes as element by element. Anything else goes element by element, as serde's default.
    #[inline]
    fn collect_seq<I>(self, iter: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if let Some(slice) = super::pod::slice_of(&iter) {
            self.len(slice.count);
            return self.raw(slice.bytes, slice.kind == super::pod::Kind::U8);
        }
        if let Some(ints) = super::pod::ints_of(&iter) {
            use super::pod::Ints;
            match ints {
                Ints::U16(s) => self.varints(3, s.iter().map(|&x| u64::from(x))),
                Ints::U32(s) => self.varints(5, s.iter().map(|&x| u64::from(x))),
                Ints::U64(s) => self.varints(9, s.iter().copied()),
                Ints::Usize(s) => self.varints(9, s.iter().map(|&x| x as u64)),
                Ints::I16(s) => self.varints(3, s.iter().map(|&x| zigzag(i64::from(x)))),
                Ints::I32(s) => self.varints(5, s.iter().map(|&x| zigzag(i64::from(x)))),
                Ints::I64(s) => self.varints(9, s.iter().map(|&x| zigzag(x))),
                Ints::Isize(s) => self.varints(9, s.iter().map(|&x| zigzag(x as i64))),
            }
            return Ok(());
        }
        let iter = iter.into_iter();
        let len = match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        let mut seq = ser::Serializer::serialize_seq(self, len)?;
        for item in iter {
            ser::SerializeSeq::serialize_element(&mut seq, &item)?;
        }
        ser::SerializeSeq::end(seq)
    }

    #[inline]
    fn serialize_none(self) -> Result<()> {
        self.out.push(0);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        self.out.push(1);
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<()> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _: &'static str) -> Result<()> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result<()> {
        self.variant(index);
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<()> {
        self.variant(index);
        value.serialize(self)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self> {
        let len = len.ok_or_else(|| {
            SerError("a sequence must know its length to be encoded (bincode's format)".into())
        })?;
        self.len(len);
        // At least a byte an element: one reservation instead of doubling as it grows.
        self.out.reserve(len);
        Ok(self)
    }

    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self> {
        self.variant(index);
        Ok(self)
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self> {
        let len = len.ok_or_else(|| {
            SerError("a map must know its length to be encoded (bincode's format)".into())
        })?;
        self.len(len);
        Ok(self)
    }

    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self> {
        Ok(self)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self> {
        self.variant(index);
        Ok(self)
    }
}

/// Sequences, tuples, structs and their variants: the elements in order, nothing between them.
macro_rules! elements {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = SerError;

            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                value.serialize(&mut **self)
            }

            #[inline]
            fn end(self) -> Result<()> {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for &mut Encoder<'_> {
    type Ok = ();
    type Error = SerError;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        key.serialize(&mut **self)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn end(self) -> Result<()> {
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident),* $(,)?) => {$(
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = SerError;

            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                value: &T,
            ) -> Result<()> {
                value.serialize(&mut **self)
            }

            #[inline]
            fn end(self) -> Result<()> {
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    fn ours<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(v, &mut out).unwrap();
        out
    }

    fn bincode<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap()
    }

    #[test]
    fn integers_at_every_varint_boundary_encode_as_bincode_does() {
        let edges: Vec<u64> = vec![
            0,
            1,
            250,
            251,
            252,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ];
        for &u in &edges {
            assert_eq!(ours(&u), bincode(&u), "u64 {u}");
            assert_eq!(ours(&(u as u32)), bincode(&(u as u32)), "u32 {u}");
            assert_eq!(ours(&(u as u16)), bincode(&(u as u16)), "u16 {u}");
            assert_eq!(ours(&(u as u128)), bincode(&(u as u128)), "u128 {u}");
            for i in [
                u as i64,
                -(u as i64),
                (u as i64).wrapping_neg().wrapping_sub(1),
            ] {
                assert_eq!(ours(&i), bincode(&i), "i64 {i}");
                assert_eq!(ours(&(i as i32)), bincode(&(i as i32)), "i32 {i}");
                assert_eq!(ours(&(i as i16)), bincode(&(i as i16)), "i16 {i}");
                assert_eq!(ours(&(i as i8)), bincode(&(i as i8)), "i8 {i}");
                assert_eq!(ours(&(i as i128)), bincode(&(i as i128)), "i128 {i}");
            }
        }
        for v in [u128::MAX, u128::MAX / 3, 1 << 64] {
            assert_eq!(ours(&v), bincode(&v));
            assert_eq!(ours(&(v as i128)), bincode(&(v as i128)));
            assert_eq!(ours(&-(v as i128 / 2)), bincode(&-(v as i128 / 2)));
        }
    }

    #[test]
    fn a_sequence_of_unknown_length_is_an_error_not_a_panic() {
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: ser::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                use ser::SerializeSeq;
                let seq = s.serialize_seq(None)?;
                seq.end()
            }
        }
        let mut out = Vec::new();
        let e = encode_into(&Unsized, &mut out).unwrap_err();
        assert!(e.to_string().contains("length"), "{e}");
    }
}
