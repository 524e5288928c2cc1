//! The authkey handshake, like Python's `multiprocessing.connection` `deliver_challenge` /
//! `answer_challenge`, in both directions: each side proves it knows the key by returning
//! HMAC-SHA256(authkey, random challenge) for the other's challenge. Digests are compared in constant
//! time. The server side runs in the [`gate`](super::gate), over non-blocking calls; frames are
//! capped at [`HANDSHAKE_LIMIT`] bytes before anything is allocated.
//!
//! Two keys open a connection: the authkey (a [`Level::Client`]: create, publish, look up) and the
//! proxy key derived from it (a [`Level::Proxy`], what serialized proxies carry: it only reaches
//! objects whose capability the caller presents). Each object's capability is an HMAC of its id
//! under the authkey, so only the server and the authkey's holders can make one.

use crate::error::{Error, ErrorKind, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, Instant};

/// Largest frame accepted before a peer has authenticated.
pub(crate) const HANDSHAKE_LIMIT: usize = 1024;
/// How long a client waits for the server's side of the handshake (a server process just started on
/// a loaded machine may take a while to accept).
const CLIENT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
pub(crate) const FAILURE: &[u8] = b"#FAILURE#";
const NONCE: usize = 32;
const DIGEST: usize = 32;
/// Length of the client's answer: its digest of the challenge, then its own challenge.
pub(crate) const ANSWER_LEN: usize = DIGEST + NONCE;

/// Shortest authkey `serve` and `connect` accept: a shorter one can be guessed offline from one
/// recorded handshake.
pub(crate) const MIN_AUTHKEY: usize = 16;

/// Refuses an authkey shorter than [`MIN_AUTHKEY`].
pub(crate) fn check_key(authkey: &[u8]) -> Result<()> {
    if authkey.len() < MIN_AUTHKEY {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "an authkey needs at least {MIN_AUTHKEY} bytes, this one has {}: use a long random \
                 secret",
                authkey.len()
            ),
        ));
    }
    Ok(())
}

/// `n` bytes from the kernel's random source.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| {
        Error::io(
            "could not read the kernel's random source (getrandom)",
            std::io::Error::from(e),
        )
    })?;
    Ok(buf)
}

/// A random `u64` (names, connection keys).
pub(crate) fn random_u64() -> Result<u64> {
    let b = random_bytes(8)?;
    Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// A random `u128` (object ids).
pub(crate) fn random_u128() -> Result<u128> {
    let b = random_bytes(16)?;
    Ok(u128::from_le_bytes(b.try_into().unwrap_or([0; 16])))
}

fn mac(authkey: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(authkey).unwrap_or_else(|_| unreachable!())
}

fn digest(authkey: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = mac(authkey);
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn verify(authkey: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    let mut m = mac(authkey);
    m.update(msg);
    m.verify_slice(tag).is_ok() // constant-time comparison (subtle)
}

fn auth_error(what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Authentication, what.to_string())
}

/// What a connection proved it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// The authkey: a [`Manager::connect`](super::Manager::connect) handle (or the owner's).
    Client,
    /// The proxy key: a proxy's connection, reaching objects by their capabilities only.
    Proxy,
}

/// The keys a server accepts.
pub(crate) struct Keys {
    pub authkey: Vec<u8>,
    /// A manager's derived proxy key; `None` for a plain listener (only the authkey opens it).
    pub proxy: Option<Vec<u8>>,
}

impl Keys {
    /// A manager's keys: the authkey and the proxy key derived from it.
    pub(crate) fn new(authkey: Vec<u8>) -> Keys {
        let proxy = Some(proxy_key(&authkey));
        Keys { authkey, proxy }
    }

    /// The authkey alone ([`connection::Listener`](crate::connection::Listener)).
    pub(crate) fn authkey_only(authkey: Vec<u8>) -> Keys {
        Keys {
            authkey,
            proxy: None,
        }
    }
}

/// The key proxies connect with: derived from the authkey, which it does not reveal.
pub(crate) fn proxy_key(authkey: &[u8]) -> Vec<u8> {
    digest(authkey, b"multiproc manager proxy key v1")
}

/// The credential of object `id`: HMAC-SHA256(authkey, id), its first 128 bits.
pub(crate) fn capability(authkey: &[u8], id: u128) -> u128 {
    let mut m = mac(authkey);
    m.update(b"multiproc manager object v1");
    m.update(&id.to_le_bytes());
    let d = m.finalize().into_bytes();
    let mut first = [0u8; 16];
    first.copy_from_slice(&d[..16]);
    u128::from_le_bytes(first)
}

/// Equality in time independent of where the inputs differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh challenge for a new connection (server side).
pub(crate) fn challenge() -> Result<Vec<u8>> {
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&random_bytes(NONCE)?);
    Ok(challenge)
}

/// Checks a client's answer to `challenge` against both keys (server side): the level it proved
/// and the welcome frame answering its own challenge, or `None` if it knows neither key.
pub(crate) fn check_answer(
    keys: &Keys,
    challenge: &[u8],
    answer: &[u8],
) -> Option<(Level, Vec<u8>)> {
    if answer.len() != ANSWER_LEN {
        return None;
    }
    let (tag, nonce) = answer.split_at(DIGEST);
    let proxy = keys.proxy.as_ref().filter(|p| verify(p, challenge, tag));
    let (key, level) = if verify(&keys.authkey, challenge, tag) {
        (&keys.authkey, Level::Client)
    } else if let Some(p) = proxy {
        (p, Level::Proxy)
    } else {
        return None;
    };
    let mut welcome = WELCOME.to_vec();
    welcome.extend_from_slice(&digest(key, nonce));
    Some((level, welcome))
}

/// Client side: answer the server's challenge, challenge it back, check its answer.
pub(crate) fn client_handshake(
    send: &dyn Fn(&[u8]) -> Result<()>,
    recv: &dyn Fn(Option<Instant>) -> Result<Vec<u8>>,
    authkey: &[u8],
    peer: &str,
) -> Result<()> {
    let deadline = Some(Instant::now() + CLIENT_HANDSHAKE_TIMEOUT);
    let challenge = recv(deadline)?;
    if !challenge.starts_with(CHALLENGE) || challenge.len() != CHALLENGE.len() + NONCE {
        return Err(auth_error(format!(
            "{peer} did not send a multiproc authkey challenge: is it a multiproc manager or \
             listener expecting an authkey?"
        )));
    }
    let nonce = random_bytes(NONCE)?;
    let mut answer = digest(authkey, &challenge);
    answer.extend_from_slice(&nonce);
    send(&answer)?;
    // A server that hangs up instead of answering (it stopped, or refused the connection) is gone,
    // not a key mismatch: a wrong key gets the failure message first.
    let reply = recv(deadline)?;
    if reply.starts_with(FAILURE) {
        return Err(auth_error(format!(
            "{peer} rejected the authkey: use the key it was started with"
        )));
    }
    let tag = reply.strip_prefix(WELCOME).unwrap_or_default();
    if !verify(authkey, &nonce, tag) {
        return Err(auth_error(format!(
            "{peer} failed our challenge: it does not know the authkey"
        )));
    }
    Ok(())
}
