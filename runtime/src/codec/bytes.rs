//! [`Bytes`]: a byte buffer that travels as one byte string.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A `Vec<u8>` that serde itself writes as one byte string: a length, then the bytes in one copy.
/// Python's `bytes`. The codec copies a plain `Vec<u8>`, `&[u8]` or `Box<[u8]>` whole too (it
/// recognises them where serde hands them over, with the same bytes on the wire), so `Bytes` is for
/// code that wants the byte-string form in any serde format, and for the types the codec does not
/// see whole (`[u8; N]`, `VecDeque<u8>` go element by element). It dereferences to the `Vec`, and
/// converts from and into one.
///
/// Through a [`Queue`](crate::Queue), a `Bytes` (or `Vec<u8>`) of 64 KiB or more is a bulk byte
/// string: `put` copies it from the value straight into the queue's shared ring (not into an
/// encoding buffer first), and `get` copies it out into the `Vec` it returns, once each way.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Bytes;
/// let q = multiproc::Queue::<Bytes>::new()?;
/// q.put(Bytes::from(vec![7u8; 1 << 20]))?;       // one copy in, one copy out
/// let got: Vec<u8> = q.get()?.into();
/// assert_eq!(got.len(), 1 << 20);
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// An empty buffer.
    pub fn new() -> Bytes {
        Bytes(Vec::new())
    }

    /// The buffer, unwrapped.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Bytes {
        Bytes(v.to_vec())
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(b: Bytes) -> Vec<u8> {
        b.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                // What a self-describing format gives for a `Vec<u8>`: accepted too.
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}
