//! TLS for remote managers (the `tls` feature): rustls with the `ring` provider. The server presents
//! a certificate; clients pin it (they accept exactly that certificate, checked byte for byte, and
//! the handshake's signatures against its key), so no certificate authority is involved. The authkey
//! handshake then runs inside TLS, and every frame after it is encrypted and authenticated.

use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig, SignatureScheme,
};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

/// The name a client asks for: the certificate is pinned, so no name is checked.
const SERVER_NAME: &str = "multiproc-manager";

/// The `ring` provider (rustls 0.23.48 deprecates it for lacking post-quantum key exchange; the
/// other provider, aws-lc, needs cmake and a C toolchain to build).
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::InvalidInput, what.to_string()).with_source(e)
}

/// The server's configuration: a certificate chain (DER, end entity first) and its private key
/// (DER: PKCS#8, PKCS#1 or SEC1).
pub(crate) fn server_config(certs: &[Vec<u8>], key: &[u8]) -> Result<Arc<ServerConfig>> {
    let chain = certs
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect::<Vec<_>>();
    let key = PrivateKeyDer::try_from(key.to_vec()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the manager's TLS private key is not a DER key ({e}): pass PKCS#8, PKCS#1 or SEC1 DER bytes"
            ),
        )
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("no TLS protocol version is available", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            tls_error(
                "the manager's TLS certificate and key were refused: pass the DER certificate and \
                 the private key that belongs to it",
                e,
            )
        })?;
    Ok(Arc::new(config))
}

/// Accepts exactly one certificate, checking the handshake's signatures against it.
#[derive(Debug)]
struct Pinned {
    cert: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if crate::manager::auth::same(end_entity.as_ref(), &self.cert) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the manager presented another certificate than the pinned one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client configuration that trusts exactly `cert` (DER).
fn client_config(cert: &[u8]) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let pinned = Pinned {
        cert: cert.to_vec(),
        algorithms: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("no TLS protocol version is available", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(pinned))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Frames (the runtime's 8-byte header, then the payload) over a TLS stream: what `Channel` is for
/// a plain socket. No descriptors travel.
pub(crate) struct Client {
    stream: RefCell<rustls::StreamOwned<ClientConnection, TcpStream>>,
    /// The socket again, to watch for a hang-up without borrowing the stream.
    watch: OwnedFd,
    limit: usize,
}

impl Client {
    /// Starts TLS on a connected socket, pinning `cert`. The TLS handshake itself runs with the
    /// first frame.
    pub(crate) fn new(fd: OwnedFd, cert: &[u8]) -> Result<Client> {
        let name = ServerName::try_from(SERVER_NAME)
            .map_err(|e| tls_error("invalid TLS server name", e))?;
        let conn = ClientConnection::new(client_config(cert)?, name)
            .map_err(|e| tls_error("could not start TLS", e))?;
        let watch = fd
            .try_clone()
            .map_err(|e| Error::io("could not duplicate the manager's socket", e))?;
        Ok(Client {
            stream: RefCell::new(rustls::StreamOwned::new(conn, TcpStream::from(fd))),
            watch,
            limit: super::auth::HANDSHAKE_LIMIT,
        })
    }

    pub(crate) fn set_max_message(&mut self, limit: usize) {
        self.limit = limit;
    }

    pub(crate) fn socket(&self) -> BorrowedFd<'_> {
        self.watch.as_fd()
    }

    pub(crate) fn send(&self, payload: &[u8]) -> Result<()> {
        let mut s = self.stream.borrow_mut();
        write_frame(&mut *s, payload).map_err(|e| io_error("could not send to the manager", e))
    }

    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        let mut s = self.stream.borrow_mut();
        let timeout = deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(std::time::Duration::from_millis(1))
        });
        s.sock
            .set_read_timeout(timeout)
            .map_err(|e| Error::io("could not set the socket's timeout", e))?;
        read_frame(&mut *s, self.limit).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Error::new(ErrorKind::Timeout, "the manager did not answer in time")
            }
            _ => io_error("could not receive from the manager", e),
        })
    }
}

/// A closed or reset connection is a disconnect, like on a plain socket; a TLS failure (a wrong
/// certificate) is an authentication error.
fn io_error(what: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionAborted => Error::disconnected(format!(
            "{what}: the connection closed (the manager is gone, or refused our TLS handshake)"
        )),
        std::io::ErrorKind::InvalidData => Error::new(
            ErrorKind::Authentication,
            format!("{what}: the TLS handshake failed (is this the manager's certificate?)"),
        )
        .with_source(e),
        _ => Error::io(what, e),
    }
}

/// Writes one frame and flushes it: one write, so one TLS record for a small frame.
pub(crate) fn write_frame(w: &mut impl Write, payload: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame of at most `limit` bytes (checked before allocating); a frame that claims
/// descriptors is refused.
pub(crate) fn read_frame(r: &mut impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 8];
    r.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let nfds = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > limit || nfds != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a frame of {len} bytes with {nfds} descriptors over TLS (limit {limit} bytes, no descriptors)"
            ),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(payload)
}

/// A socket read and written without blocking, for the gate's TLS handshakes.
pub(crate) struct NonBlocking<'a>(pub BorrowedFd<'a>);

impl Read for NonBlocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        crate::sys::net::recv_now(self.0, buf)
    }
}

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::sys::net::send_now(self.0, buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends what the server side of a TLS connection has queued; false if it could not all go out
/// now (a peer that does not read its handshake is not a client).
pub(crate) fn flush(conn: &mut rustls::ServerConnection, fd: &OwnedFd) -> bool {
    while conn.wants_write() {
        match conn.write_tls(&mut NonBlocking(fd.as_fd())) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
    true
}
