//! The wire format between proxies and the server, one frame each way per call. A request is the
//! target object's id, its capability and the method's name, then the method's encoded arguments; a
//! reply is a [`Status`], then the encoded return value. Object `0` is the server itself ([`control`]
//! methods, capability `0`).
//! Values stored by the built-in containers stay encoded on the server: it never needs their type.

use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// Largest frame an authenticated peer may send (checked before allocating).
pub(crate) const MAX_FRAME: usize = 256 << 20;

/// The id of the server's own control object.
pub(crate) const CONTROL: u128 = 0;

/// Methods of the control object.
pub(crate) mod control {
    /// `(kind, tag, init bytes) -> (id, capability)`: a new object.
    pub const CREATE: &str = "create";
    /// `(name, id, capability, owner token)`: give an object a name others can look up.
    pub const PUBLISH: &str = "publish";
    /// `(name, tag) -> (id, capability)`: the object published under `name`, if its tag matches.
    pub const LOOKUP: &str = "lookup";
    /// `owner token`: stop the server after replying.
    pub const SHUTDOWN: &str = "shutdown";
    /// `()` with a mailbox block and two doorbells beside it: carry this connection's later calls
    /// through shared memory (local managers only; see `manager/fast.rs`).
    pub const ATTACH: &str = "attach";
}

/// Outcome of a call, ahead of the return value.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Status {
    Ok,
    Err(WireError),
}

/// An error that crosses the wire, keeping the kinds a caller may want to match on.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum WireError {
    Remote(String),
    NotFound(String),
    InvalidInput(String),
    Timeout(String),
    Empty(String),
    Codec(String),
    Authentication(String),
}

impl WireError {
    pub(crate) fn from_error(e: &Error) -> WireError {
        // The message and its causes: the caller gets the whole story, not just the last word.
        let m = format!("{e:#}");
        match e.kind() {
            ErrorKind::NotFound => WireError::NotFound(m),
            ErrorKind::InvalidInput => WireError::InvalidInput(m),
            ErrorKind::Timeout => WireError::Timeout(m),
            ErrorKind::Empty => WireError::Empty(m),
            ErrorKind::Codec => WireError::Codec(m),
            ErrorKind::Authentication => WireError::Authentication(m),
            _ => WireError::Remote(m),
        }
    }

    pub(crate) fn into_error(self, method: &str) -> Error {
        match self {
            WireError::Remote(message) => Error::new(
                ErrorKind::Remote {
                    message: message.clone(),
                },
                format!("manager call `{method}` failed on the server: {message}"),
            ),
            WireError::NotFound(m) => Error::new(ErrorKind::NotFound, m),
            WireError::InvalidInput(m) => Error::new(ErrorKind::InvalidInput, m),
            WireError::Timeout(m) => Error::new(ErrorKind::Timeout, m),
            WireError::Empty(m) => Error::new(ErrorKind::Empty, m),
            WireError::Codec(m) => Error::new(ErrorKind::Codec, m),
            WireError::Authentication(m) => Error::new(ErrorKind::Authentication, m),
        }
    }
}

/// Encodes a request into `buf` (cleared first). Handles that carry descriptors are refused: the
/// server keeps bytes only, and a descriptor would not survive the trip to another process through it.
pub(crate) fn encode_request<A: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    id: u128,
    cap: u128,
    method: &str,
    args: &A,
) -> Result<()> {
    buf.clear();
    let mut fds = Vec::new();
    codec::encode_into(&(id, cap, method), buf, &mut fds)?;
    codec::encode_into(args, buf, &mut fds)?;
    if !fds.is_empty() {
        buf.clear();
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "`{method}` was given a handle that carries a file descriptor (pipe, queue, shared value, ...): \
                 a manager stores plain data; pass handles to workers directly, or store a manager proxy instead"
            ),
        ));
    }
    Ok(())
}

/// Splits a request frame into `(id, capability, method, argument bytes)`.
pub(crate) fn decode_request(frame: &[u8]) -> Result<(u128, u128, String, &[u8])> {
    let ((id, cap, method), used): ((u128, u128, String), usize) =
        codec::decode_prefix(frame, Vec::new())?;
    Ok((id, cap, method, &frame[used..]))
}

/// Decodes a reply frame as `R`, or the error it carries.
pub(crate) fn decode_reply<R: serde::de::DeserializeOwned>(
    frame: &[u8],
    method: &str,
) -> Result<R> {
    let (status, used): (Status, usize) = codec::decode_prefix(frame, Vec::new())?;
    match status {
        Status::Ok => codec::decode(&frame[used..], Vec::new()),
        Status::Err(e) => Err(e.into_error(method)),
    }
}

/// Decodes `A` from a method's argument bytes.
pub(crate) fn args<A: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<A> {
    codec::decode(bytes, Vec::new())
}

/// Appends the encoding of `value` (a method's return value) to `out`.
pub(crate) fn ret<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<()> {
    let mut fds = Vec::new();
    codec::encode_into(value, out, &mut fds)?;
    if !fds.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a managed method returned a handle that carries a file descriptor; return plain data",
        ));
    }
    Ok(())
}

/// An encoded value stored on the server: the built-in containers keep these without knowing the
/// type, and proxies encode and decode them. Serialized as one length-prefixed byte string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Blob(pub Vec<u8>);

impl Blob {
    pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Blob> {
        let mut out = Vec::new();
        ret(&mut out, value)?;
        Ok(Blob(out))
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        codec::decode(&self.0, Vec::new())
    }
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Blob, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an encoded value")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}
