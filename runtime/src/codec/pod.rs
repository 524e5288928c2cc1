//! Plain-old-data sequences at memory speed, whatever the user writes.
//!
//! serde hands a `Vec<u8>` (or `&[u8]`, `Box<[u8]>`, `Vec<f64>`, ...) to a format one element at a
//! time: correct, but about a nanosecond an element. Two places see such a sequence whole:
//!
//! - the encoder's `collect_seq`, which serde's `Serialize` for `Vec<E>` and `[E]` calls with `&Vec<E>`
//!   or `&[E]` (so `Box<[E]>`, `Rc<[E]>`, `Cow<[E]>` come the same way);
//! - the decoder's `deserialize_seq`, which serde's `Deserialize` for `Vec<E>` (and `Box<[E]>`, built
//!   from a `Vec`) calls with serde's own visitor for `Vec<E>`, whose type we learn once by asking
//!   serde ([`vec_kind`]).
//!
//! There the codec recognises the type by its identity (lifetimes aside: the `typeid` crate) and
//! copies the bytes in one go. The bytes are exactly those of the element-by-element way (`u8`/`i8`
//! one raw byte, `f32`/`f64` little endian; the wider integers are varints and keep that way), so
//! nothing changes on the wire. Any other sequence type takes serde's way as before.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::any::TypeId;
use std::fmt;
use std::mem::{ManuallyDrop, size_of, size_of_val};
use std::sync::OnceLock;

/// The element types whose encoding is their memory on this target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    U8,
    I8,
    F32,
    F64,
}

impl Kind {
    /// Bytes an element.
    pub(super) fn size(self) -> usize {
        match self {
            Kind::U8 | Kind::I8 => 1,
            Kind::F32 => 4,
            Kind::F64 => 8,
        }
    }
}

/// The element types here: plain data, no padding, every bit pattern valid, not zero-sized.
pub(super) trait Pod: Copy + sealed::Sealed {}
impl Pod for u8 {}
impl Pod for i8 {}
impl Pod for f32 {}
impl Pod for f64 {}

/// The vectors of them, the only types [`cast`] moves (they have no lifetimes, so equal type
/// identities mean equal types).
pub(super) trait PodVec: sealed::Sealed {}
impl<E: Pod> PodVec for Vec<E> {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl<E: super::Pod> Sealed for Vec<E> {}
}

/// A sequence seen whole: its element count and its bytes.
pub(super) struct Slice<'a> {
    pub(super) kind: Kind,
    pub(super) count: usize,
    pub(super) bytes: &'a [u8],
}

/// The bytes of `s` as they lie in memory.
fn view<E: Pod>(kind: Kind, s: &[E]) -> Slice<'_> {
    Slice {
        kind,
        count: s.len(),
        bytes: of_pod::<E>().bytes_of(s),
    }
}

/// The [`Plain`] proof of a [`Pod`] type (u8, i8, f32, f64: plain numbers, sealed).
fn of_pod<E: Pod>() -> Plain<E> {
    Plain(std::marker::PhantomData)
}

/// `iter` (what `collect_seq` was given) as a slice of `E`, if it is `&[E]` or `&Vec<E>`.
#[inline]
fn as_slice<I, E: 'static>(iter: &I) -> Option<&[E]> {
    let id = typeid::of::<I>();
    if id == typeid::of::<&[E]>() {
        // SAFETY: `I` is `&[E]` (lifetimes aside): the cast reads the reference itself, and the
        // slice it returns is borrowed no longer than `iter`.
        return Some(unsafe { *(iter as *const I).cast::<&[E]>() });
    }
    if id == typeid::of::<&Vec<E>>() {
        // SAFETY: `I` is `&Vec<E>` (lifetimes aside), as above.
        let v: &Vec<E> = unsafe { *(iter as *const I).cast::<&Vec<E>>() };
        return Some(v.as_slice());
    }
    None
}

/// `iter` (what `collect_seq` was given) as a plain-data slice, if it is `&[E]` or `&Vec<E>` for an
/// element type of [`Kind`].
#[inline]
pub(super) fn slice_of<I>(iter: &I) -> Option<Slice<'_>> {
    if let Some(s) = as_slice::<I, u8>(iter) {
        return Some(view(Kind::U8, s));
    }
    if let Some(s) = as_slice::<I, i8>(iter) {
        return Some(view(Kind::I8, s));
    }
    if cfg!(target_endian = "little") {
        if let Some(s) = as_slice::<I, f32>(iter) {
            return Some(view(Kind::F32, s));
        }
        if let Some(s) = as_slice::<I, f64>(iter) {
            return Some(view(Kind::F64, s));
        }
    }
    None
}

/// An integer sequence seen whole (`&[E]` or `&Vec<E>`): written as varints in one loop.
pub(super) enum Ints<'a> {
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    Usize(&'a [usize]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    Isize(&'a [isize]),
}

/// `iter` (what `collect_seq` was given) as an integer slice, if it is `&[E]` or `&Vec<E>` for an
/// integer type wider than a byte.
#[inline]
pub(super) fn ints_of<I>(iter: &I) -> Option<Ints<'_>> {
    as_slice(iter)
        .map(Ints::U16)
        .or_else(|| as_slice(iter).map(Ints::U32))
        .or_else(|| as_slice(iter).map(Ints::U64))
        .or_else(|| as_slice(iter).map(Ints::Usize))
        .or_else(|| as_slice(iter).map(Ints::I16))
        .or_else(|| as_slice(iter).map(Ints::I32))
        .or_else(|| as_slice(iter).map(Ints::I64))
        .or_else(|| as_slice(iter).map(Ints::Isize))
}

/// A `Vec` of the elements of `E` whose encoded bytes `bytes` holds (`count * size_of::<E>()`;
/// bytes past the last whole element are not read).
pub(super) fn vec_from<E: Pod>(bytes: &[u8]) -> Vec<E> {
    let mut v = Vec::new();
    of_pod::<E>().extend(&mut v, bytes);
    v
}

/// `value` as a `U`, when `U` is `T`; `None` otherwise. `T` is a plain-data `Vec`, which has no
/// lifetimes, so identities equal up to lifetimes mean the very same type.
#[inline]
pub(super) fn cast<T: PodVec, U>(value: T) -> Option<U> {
    if typeid::of::<T>() != typeid::of::<U>() {
        return None;
    }
    let value = ManuallyDrop::new(value);
    // SAFETY: `T` and `U` are the same type: a move under another name.
    Some(unsafe { std::mem::transmute_copy::<T, U>(&value) })
}

/// The plain-data `Vec` that visitor `V` builds, if `V` is serde's own visitor for one (its type is
/// learnt from serde once, see [`probe`]) and its value is that `Vec`.
#[inline]
pub(super) fn vec_kind<'de, V: Visitor<'de>>() -> Option<Kind> {
    static VISITORS: OnceLock<Vec<(Option<TypeId>, TypeId, Kind)>> = OnceLock::new();
    let visitors = VISITORS.get_or_init(|| {
        let mut all = vec![
            (probe::<Vec<u8>>(), TypeId::of::<Vec<u8>>(), Kind::U8),
            (probe::<Vec<i8>>(), TypeId::of::<Vec<i8>>(), Kind::I8),
        ];
        if cfg!(target_endian = "little") {
            all.push((probe::<Vec<f32>>(), TypeId::of::<Vec<f32>>(), Kind::F32));
            all.push((probe::<Vec<f64>>(), TypeId::of::<Vec<f64>>(), Kind::F64));
        }
        all
    });
    let (visitor, value) = (typeid::of::<V>(), typeid::of::<V::Value>());
    visitors
        .iter()
        .find(|(v, val, _)| *v == Some(visitor) && *val == value)
        .map(|(_, _, kind)| *kind)
}

/// The type of the visitor `T::deserialize` hands to `deserialize_seq`, if it calls that.
fn probe<T: for<'de> Deserialize<'de>>() -> Option<TypeId> {
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0
}

/// A deserializer that only notes which visitor `deserialize_seq` was given, then stops.
struct Probe(Option<TypeId>);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for &mut Probe {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        self.0 = Some(typeid::of::<V>());
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// Proof that `T` is a plain number: no padding, every bit pattern valid, and (where [`plain`] gives
/// it) its memory is its little-endian bytes: the integers, `usize`/`isize` and the floats, on
/// little-endian targets. A pool sends a chunk of such values as their bytes ([`plain`], then
/// [`bytes_of`](Plain::bytes_of), [`extend`](Plain::extend) and [`read`](Plain::read), unchecked
/// after the one check). The codec's [`Pod`] types have it too ([`of_pod`]).
#[derive(Debug)]
pub(crate) struct Plain<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Clone for Plain<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Plain<T> {}

/// The proof for `T`, if it is a plain number (see [`Plain`]).
#[inline]
pub(crate) fn plain<T>() -> Option<Plain<T>> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let id = typeid::of::<T>();
    let plain = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<isize>(),
        TypeId::of::<f32>(),
        TypeId::of::<f64>(),
    ]
    .contains(&id);
    plain.then_some(Plain(std::marker::PhantomData))
}

impl<T> Plain<T> {
    /// Bytes a value.
    #[inline]
    pub(crate) fn size(self) -> usize {
        size_of::<T>()
    }

    /// The bytes of `values` as they lie in memory.
    #[inline]
    pub(crate) fn bytes_of(self, values: &[T]) -> &[u8] {
        // SAFETY: `T` is a plain number (the proof's contract): no padding, every byte initialised;
        // the view borrows `values`.
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
    }

    /// Appends the bytes of `value`.
    #[inline]
    pub(crate) fn write(self, value: &T, out: &mut Vec<u8>) {
        out.extend_from_slice(self.bytes_of(std::slice::from_ref(value)));
    }

    /// Appends to `out` the values whose bytes `bytes` holds, in one copy (bytes past the last
    /// whole value are not read).
    #[inline]
    pub(crate) fn extend(self, out: &mut Vec<T>, bytes: &[u8]) {
        let count = bytes.len() / size_of::<T>();
        out.reserve(count);
        // SAFETY: `out` has room for `count` more values (reserved above), which nothing else
        // touches (`out` is borrowed mutably); they are initialised before the length covers them.
        unsafe {
            self.copy_to(bytes, out.as_mut_ptr().add(out.len()));
            out.set_len(out.len() + count);
        }
    }

    /// Writes the values whose bytes `bytes` holds (whole values only) from `dst` on, in one copy.
    ///
    /// # Safety
    /// `dst` is valid for writes of `bytes.len() / size` values, which nobody else reads or writes
    /// meanwhile. (Every bit pattern is a valid `T`, the proof's contract, so what is written is
    /// initialised values.)
    #[inline]
    pub(crate) unsafe fn copy_to(self, bytes: &[u8], dst: *mut T) {
        let count = bytes.len() / size_of::<T>();
        // SAFETY: `bytes` holds `count * size` readable bytes; `dst` has room for them (contract),
        // and process-private `bytes` cannot overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), count * size_of::<T>())
        };
    }

    /// The value whose bytes `bytes` holds (`None` unless it holds exactly [`size`](Self::size)).
    #[inline]
    pub(crate) fn read(self, bytes: &[u8]) -> Option<T> {
        // SAFETY: `T` is a plain number (the proof's contract): every bit pattern of its size is a
        // valid `T`, and `bytes` holds exactly that many (checked); the read is unaligned.
        (bytes.len() == size_of::<T>())
            .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
    }
}

/// The first byte of a chunk of plain one-argument items ([`write_plain_items`]): 255 starts no
/// varint, so no encoded sequence begins with it.
const PLAIN_ITEMS: u8 = 255;

/// Writes `items` as a chunk of plain items, if `A` is a plain number (see [`Plain`]): the marker,
/// their count (8 bytes, little endian), the size of one (a byte) and their bytes, one copy. A
/// worker reads them as the 1-tuples `(item,)` it takes ([`read_plain_items`]). False, writing
/// nothing, for any other type.
pub(crate) fn write_plain_items<A>(items: &[A], out: &mut Vec<u8>) -> bool {
    let Some(plain) = plain::<A>() else {
        return false;
    };
    let bytes = plain.bytes_of(items);
    out.reserve(10 + bytes.len());
    out.push(PLAIN_ITEMS);
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    out.push(plain.size() as u8);
    out.extend_from_slice(bytes);
    true
}

/// The 1-tuples `(item,)` of a chunk of plain items: `None` if `bytes` is not one (an encoded
/// sequence), `Some(Err)` if it is but does not add up or `A` is not the 1-tuple of a plain number.
pub(crate) fn read_plain_items<A>(bytes: &[u8]) -> Option<Result<Vec<A>, &'static str>> {
    let rest = bytes.strip_prefix(&[PLAIN_ITEMS])?;
    let read = || {
        let (n, rest) = rest.split_first_chunk::<8>().ok_or("too short")?;
        let (size, values) = rest.split_first().ok_or("too short")?;
        let n = u64::from_le_bytes(*n);
        if values.len() as u64 != n.saturating_mul(u64::from(*size)) {
            return Err("its length does not match its count");
        }
        macro_rules! as_tuples {
            ($($p:ty),*) => {$(
                if let Some(v) = tuples::<$p, A>(*size, values) {
                    return v;
                }
            )*};
        }
        as_tuples!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);
        Err("its items are not plain numbers here")
    };
    Some(read())
}

/// `values` (whole `P`s of `size` bytes) as a `Vec<A>`, if `A` is `(P,)`: `None` if it is not,
/// `Some(Err)` if the size is not `P`'s.
#[inline]
fn tuples<P: 'static, A>(size: u8, values: &[u8]) -> Option<Result<Vec<A>, &'static str>> {
    if typeid::of::<A>() != TypeId::of::<(P,)>() {
        return None;
    }
    let plain = plain::<P>()?;
    if usize::from(size) != plain.size() {
        return Some(Err("its items have another size here"));
    }
    let mut numbers = Vec::new();
    plain.extend(&mut numbers, values);
    // Collected in place where a 1-tuple has its field's size and alignment (as these do): no
    // second allocation.
    let v: Vec<(P,)> = numbers.into_iter().map(|p| (p,)).collect();
    let v = ManuallyDrop::new(v);
    // SAFETY: `A` is `(P,)`, which has no lifetimes (checked above): a move under another name.
    Some(Ok(unsafe {
        std::mem::transmute_copy::<Vec<(P,)>, Vec<A>>(&v)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_vec_visitors_are_recognised_and_others_are_not() {
        struct Mine;
        impl<'de> Visitor<'de> for Mine {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
        }
        assert_eq!(
            vec_kind::<Mine>(),
            None,
            "a visitor of our own that builds a Vec<u8>"
        );
        for (id, kind) in [
            (probe::<Vec<u8>>(), Kind::U8),
            (probe::<Vec<i8>>(), Kind::I8),
            (probe::<Vec<f32>>(), Kind::F32),
            (probe::<Vec<f64>>(), Kind::F64),
        ] {
            assert!(id.is_some(), "{kind:?}: serde's Vec calls deserialize_seq");
        }
        assert_ne!(probe::<Vec<u8>>(), probe::<Vec<u16>>());
    }

    #[test]
    fn slices_and_vectors_are_seen_whole_and_nothing_else() {
        let v = vec![1u8, 2, 3];
        let r = &v;
        let s = slice_of(&r).unwrap();
        assert_eq!((s.kind, s.count, s.bytes), (Kind::U8, 3, &[1u8, 2, 3][..]));
        let f = [1.5f64, -2.0];
        let r = &f[..];
        let s = slice_of(&r).unwrap();
        assert_eq!((s.kind, s.count, s.bytes.len()), (Kind::F64, 2, 16));
        assert!(slice_of(&&vec![1u16]).is_none());
        assert!(slice_of(&v.iter()).is_none());
        assert_eq!(cast::<Vec<u8>, Vec<u8>>(vec![9]), Some(vec![9]));
        assert_eq!(cast::<Vec<u8>, Vec<i8>>(vec![9]), None);
        assert_eq!(vec_from::<f32>(&1.25f32.to_le_bytes()), [1.25]);
    }

    #[test]
    fn plain_numbers_are_proven_and_nothing_else() {
        let p = plain::<u64>().unwrap();
        let mut out = vec![9];
        p.write(&0x0102_0304_0506_0708, &mut out);
        assert_eq!(out, [9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(p.read(&out[1..]), Some(0x0102_0304_0506_0708));
        assert_eq!(p.read(&out), None, "a wrong length");
        let f = plain::<f32>().unwrap();
        let mut out = Vec::new();
        f.write(&-1.5, &mut out);
        assert_eq!(f.read(&out), Some(-1.5));
        assert_eq!(plain::<i16>().unwrap().size(), 2);
        let mut v = vec![1u16];
        plain::<u16>().unwrap().extend(&mut v, &[2, 0, 3, 1, 9]);
        assert_eq!(v, [1, 2, 259], "whole values only");
        assert!(plain::<bool>().is_none(), "not every byte is a bool");
        assert!(plain::<char>().is_none());
        assert!(plain::<(u64,)>().is_none());
        assert!(plain::<String>().is_none());
        assert!(plain::<&u64>().is_none());
    }

    #[test]
    fn plain_items_travel_as_bytes_and_read_as_tuples() {
        let mut out = Vec::new();
        assert!(write_plain_items(&[5u64, 600, u64::MAX], &mut out));
        assert_eq!(out[0], 255);
        let back: Vec<(u64,)> = read_plain_items(&out).unwrap().unwrap();
        assert_eq!(back, [(5,), (600,), (u64::MAX,)]);
        let mut f = Vec::new();
        assert!(write_plain_items(&[1.5f32, -0.0], &mut f));
        let back: Vec<(f32,)> = read_plain_items(&f).unwrap().unwrap();
        assert_eq!(back, [(1.5,), (-0.0,)]);
        assert!(
            read_plain_items::<(u32,)>(&out).unwrap().is_err(),
            "another type"
        );
        assert!(read_plain_items::<(String,)>(&out).unwrap().is_err());
        assert!(
            read_plain_items::<(u64,)>(&out[..out.len() - 1])
                .unwrap()
                .is_err(),
            "cut short"
        );
        assert!(
            read_plain_items::<(u64,)>(&[255, 1]).unwrap().is_err(),
            "no header"
        );
        assert!(
            read_plain_items::<(u64,)>(&[3, 1, 2, 3]).is_none(),
            "an encoded sequence"
        );
        let mut no = Vec::new();
        assert!(!write_plain_items(&["a"], &mut no) && no.is_empty());
    }
}
