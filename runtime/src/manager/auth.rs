//! The authkey handshake, like Python's `multiprocessing.connection` `deliver_challenge` /
//! `answer_challenge`, in both directions: each side proves it knows the key by returning
//! HMAC-SHA256(authkey, random challenge) for the other's challenge. Digests are compared in constant
//! time; frames are capped at [`HANDSHAKE_LIMIT`] bytes before anything is allocated, and the server
//! gives a silent client [`HANDSHAKE_TIMEOUT`] before it hangs up.

use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;
use std::time::{Duration, Instant};

/// Largest frame accepted before a peer has authenticated.
pub(crate) const HANDSHAKE_LIMIT: usize = 1024;
/// How long the server waits for a new client to complete the handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits for the server's side of the handshake (a server process just started on
/// a loaded machine may take a while to accept).
const CLIENT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
const NONCE: usize = 32;
const DIGEST: usize = 32;

/// Shortest authkey `serve` and `connect` accept: a shorter one can be guessed offline from one
/// recorded handshake.
pub(crate) const MIN_AUTHKEY: usize = 16;

/// Refuses an authkey shorter than [`MIN_AUTHKEY`].
pub(crate) fn check_key(authkey: &[u8]) -> Result<()> {
    if authkey.len() < MIN_AUTHKEY {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "a manager authkey needs at least {MIN_AUTHKEY} bytes, this one has {}: use a long \
                 random secret",
                authkey.len()
            ),
        ));
    }
    Ok(())
}

/// `n` bytes from the kernel's random source.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::io("could not read /dev/urandom", e))?;
    Ok(buf)
}

/// A random `u64` (names, connection keys).
pub(crate) fn random_u64() -> Result<u64> {
    let b = random_bytes(8)?;
    Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
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

/// Server side: challenge the client, check its answer, answer its challenge.
pub(crate) fn serve_handshake(chan: &Channel, authkey: &[u8]) -> Result<()> {
    let deadline = Some(Instant::now() + HANDSHAKE_TIMEOUT);
    let nonce = random_bytes(NONCE)?;
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&nonce);
    chan.send_raw(&challenge, &[])?;
    let (answer, _) = chan.recv_raw(deadline)?;
    if answer.len() != DIGEST + NONCE || !verify(authkey, &challenge, &answer[..DIGEST]) {
        let _ = chan.send_raw(FAILURE, &[]);
        return Err(auth_error("client failed the authkey challenge"));
    }
    let mut welcome = WELCOME.to_vec();
    welcome.extend_from_slice(&digest(authkey, &answer[DIGEST..]));
    chan.send_raw(&welcome, &[])
}

/// Client side: answer the server's challenge, challenge it back, check its answer.
pub(crate) fn client_handshake(chan: &Channel, authkey: &[u8], peer: &str) -> Result<()> {
    let deadline = Some(Instant::now() + CLIENT_HANDSHAKE_TIMEOUT);
    let (challenge, _) = chan.recv_raw(deadline)?;
    if !challenge.starts_with(CHALLENGE) || challenge.len() != CHALLENGE.len() + NONCE {
        return Err(auth_error(format!(
            "{peer} did not send a multiproc manager challenge: is it a multiproc manager?"
        )));
    }
    let nonce = random_bytes(NONCE)?;
    let mut answer = digest(authkey, &challenge);
    answer.extend_from_slice(&nonce);
    chan.send_raw(&answer, &[])?;
    // A server that hangs up instead of answering (it stopped, or refused the connection) is gone,
    // not a key mismatch: a wrong key gets the failure message first.
    let (reply, _) = chan.recv_raw(deadline)?;
    if reply.starts_with(FAILURE) {
        return Err(auth_error(format!(
            "{peer} rejected the authkey: use the key the manager was started with"
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
