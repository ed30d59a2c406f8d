//! TLS for the connection to the central PostgreSQL: a rustls connector for tokio-postgres,
//! written here over tokio-rustls rather than taken from another crate, so the checks are
//! ours and the crypto is the ring provider the rest of plantsync already uses.
//!
//! # Design
//!
//! * **One rule per mode** ([`TlsMode`]): tokio-postgres is told only whether to ask for
//!   TLS and whether a refusal ends the connection ([`TlsMode::postgres_mode`]); which
//!   certificate is good enough is decided here. Every mode that uses TLS checks the chain
//!   against the trusted roots (the system's plus `sslrootcert=`), `prefer` and `require`
//!   included: the connection carries the database password. Only `verify-full` also
//!   checks the host name.
//! * **An explicit provider**: the client config is built with
//!   `rustls::crypto::ring::default_provider()`, never the process default, so nothing here
//!   depends on what another part of the process installed first.
//! * **Errors in words** ([`TlsError`]): an untrusted certificate says to set
//!   `sslrootcert=`, a host name mismatch says what verify-full checks. tokio-postgres
//!   keeps the error as the cause of its own ("error performing TLS handshake"), so
//!   `upstream::in_words` prints both on one line. No error quotes the URL.
//! * **Channel binding** (`tls-server-end-point`, RFC 5929): the hash of the server's
//!   certificate with its signature's hash (SHA-256 for MD5 and SHA-1), so SCRAM can bind
//!   the login to this TLS session (`channel_binding=require` in the URL insists on it).
//!   A signature this module does not know (RSA-PSS, Ed25519) gives no binding: SCRAM
//!   then runs without it, as with a server that offers none.
//! * **The roots are read at each connection**, so a renewed `sslrootcert` file or system
//!   store is used without a restart; a push connects once.

use crate::config::upstream::{TlsMode, UpstreamTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::Digest;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Why TLS failed, in words; never the URL.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The `sslrootcert` file cannot be read or holds no certificate.
    #[error("cannot use sslrootcert {path}: {reason}")]
    RootCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No trusted root at all.
    #[error(
        "no trusted root certificate: the system has none and upstream.url sets no sslrootcert=PATH"
    )]
    NoRoots,
    /// The server's certificate does not chain to a trusted root.
    #[error(
        "the server's certificate is not trusted ({detail}): set sslrootcert=PATH in upstream.url to the CA certificate that signed it"
    )]
    NotTrusted {
        /// Why, in words.
        detail: String,
    },
    /// `verify-full`: the certificate does not name the host.
    #[error(
        "the server's certificate is not valid for the host name {host} ({detail}); sslmode=verify-full checks it: connect by a name the certificate lists, or use sslmode=verify-ca"
    )]
    HostName {
        /// The host connected to.
        host: String,
        /// What rustls said.
        detail: String,
    },
    /// Any other certificate problem (expired, not yet valid, wrong purpose).
    #[error("the server's certificate was refused: {0}")]
    Certificate(String),
    /// TLS asked for where there is no host name to check (a Unix socket path).
    #[error("TLS needs a host name to check the server's certificate against")]
    NoHostName,
    /// The handshake or the provider failed otherwise.
    #[error("the TLS handshake failed: {0}")]
    Handshake(String),
}

impl TlsError {
    /// The handshake's error, sorted into the causes a user can act on.
    fn from_handshake(error: &std::io::Error, host: &str) -> Self {
        let rustls = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match rustls {
            Some(rustls::Error::InvalidCertificate(cause)) => Self::from_certificate(cause, host),
            Some(other) => Self::Handshake(other.to_string()),
            None => Self::Handshake(crate::datadir::dir::in_words(error)),
        }
    }

    fn from_certificate(cause: &CertificateError, host: &str) -> Self {
        let detail = cause.to_string();
        match cause {
            CertificateError::UnknownIssuer => {
                Self::NotTrusted { detail: "its issuer is not a trusted CA".to_owned() }
            }
            CertificateError::BadSignature => {
                Self::NotTrusted { detail: "its signature does not verify".to_owned() }
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Self::HostName { host: host.to_owned(), detail }
            }
            _ => Self::Certificate(detail),
        }
    }
}

/// tokio-postgres's TLS maker for one URL's settings.
#[derive(Debug, Clone)]
pub struct MakeRustlsConnect {
    tls: UpstreamTls,
    /// Built at the first connection that asks for TLS.
    config: Option<Arc<ClientConfig>>,
}

impl MakeRustlsConnect {
    /// A maker for `tls`; reads nothing yet.
    pub fn new(tls: &UpstreamTls) -> Self {
        Self { tls: tls.clone(), config: None }
    }

    fn client_config(&mut self) -> Result<Arc<ClientConfig>, TlsError> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let config = Arc::new(client_config(&self.tls)?);
        self.config = Some(config.clone());
        Ok(config)
    }
}

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, TlsError> {
        // tokio-postgres asks for a connector even when it will not use it (disable, or a
        // server that refuses TLS under prefer): a config that cannot be built is an error
        // only once TLS is really started.
        let config = match self.tls.mode {
            TlsMode::Disable => None,
            _ => Some(self.client_config()),
        };
        Ok(RustlsConnect { config, host: host.to_owned() })
    }
}

/// The connector of one connection attempt.
pub struct RustlsConnect {
    /// `None` under `sslmode=disable` (tokio-postgres then never calls it).
    config: Option<Result<Arc<ClientConfig>, TlsError>>,
    host: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| {
                TlsError::Handshake("TLS was asked for under sslmode=disable".to_owned())
            })??;
            if self.host.is_empty() {
                return Err(TlsError::NoHostName);
            }
            let name = ServerName::try_from(self.host.clone())
                .map_err(|_| TlsError::Handshake(format!("{} is not a host name", self.host)))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| TlsError::from_handshake(&e, &self.host))?;
            let end_point = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| tls_server_end_point(cert));
            Ok(RustlsStream { inner: stream, end_point })
        })
    }
}

/// The TLS stream tokio-postgres talks over, with its channel binding.
pub struct RustlsStream<S> {
    inner: tokio_rustls::client::TlsStream<S>,
    end_point: Option<Vec<u8>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        match &self.end_point {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.clone()),
            None => ChannelBinding::none(),
        }
    }
}

/// The rustls client config of `tls`: the ring provider, the system's roots plus
/// `sslrootcert`, and the verifier of the mode.
fn client_config(tls: &UpstreamTls) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    // Unreadable entries of the system store are skipped, as every TLS client does.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &tls.root_cert {
        let bad = |reason: String| TlsError::RootCert { path: path.clone(), reason };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".to_owned()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Handshake(e.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Handshake(e.to_string()))?;
    let mut config = if tls.mode.checks_host_name() {
        builder.with_webpki_verifier(chain).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
            .with_no_client_auth()
    };
    // PostgreSQL 17 checks the protocol when the client names one; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// The chain checked, the host name not (`prefer`, `require`, `verify-ca`). The webpki
/// verifier checks the chain first and the name last, so its name error means the chain
/// was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// RFC 5929's `tls-server-end-point` of a DER certificate: its hash with the hash of its
/// signature algorithm, SHA-256 for MD5 and SHA-1; `None` for an algorithm without one
/// (RSA-PSS carries its hash in parameters, Ed25519 has none) or a certificate that does
/// not parse.
fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (certificate, _) = der_element(cert, SEQUENCE)?;
    let (_tbs, rest) = der_element(certificate, SEQUENCE)?;
    let (algorithm, _) = der_element(rest, SEQUENCE)?;
    let (oid, _) = der_element(algorithm, OBJECT_IDENTIFIER)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]; // 1.2.840.113549.1.1
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04]; // 1.2.840.10045.4
    let hash: fn(&[u8]) -> Vec<u8> = match oid {
        // md5, sha1, sha256 with RSA; ecdsa-with-SHA1, -SHA256
        [rsa @ .., 4 | 5 | 11] if rsa == RSA => |c| sha2::Sha256::digest(c).to_vec(),
        [ecdsa @ .., 1] if ecdsa == ECDSA => |c| sha2::Sha256::digest(c).to_vec(),
        [ecdsa @ .., 3, 2] if ecdsa == ECDSA => |c| sha2::Sha256::digest(c).to_vec(),
        [rsa @ .., 14] if rsa == RSA => |c| sha2::Sha224::digest(c).to_vec(),
        [ecdsa @ .., 3, 1] if ecdsa == ECDSA => |c| sha2::Sha224::digest(c).to_vec(),
        [rsa @ .., 12] if rsa == RSA => |c| sha2::Sha384::digest(c).to_vec(),
        [ecdsa @ .., 3, 3] if ecdsa == ECDSA => |c| sha2::Sha384::digest(c).to_vec(),
        [rsa @ .., 13] if rsa == RSA => |c| sha2::Sha512::digest(c).to_vec(),
        [ecdsa @ .., 3, 4] if ecdsa == ECDSA => |c| sha2::Sha512::digest(c).to_vec(),
        _ => return None,
    };
    Some(hash(cert))
}

const SEQUENCE: u8 = 0x30;
const OBJECT_IDENTIFIER: u8 = 0x06;

/// The content of the DER element with `tag` at the start of `input`, and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        (bytes.iter().fold(0usize, |length, &b| length << 8 | usize::from(b)), rest)
    };
    rest.split_at_checked(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER certificate's outline: `tbs` and a signature algorithm `oid`.
    fn outline(oid: &[u8]) -> Vec<u8> {
        let tbs = [SEQUENCE, 2, 0x02, 0x00];
        let mut algorithm = vec![OBJECT_IDENTIFIER, oid.len() as u8];
        algorithm.extend_from_slice(oid);
        let mut body = tbs.to_vec();
        body.push(SEQUENCE);
        body.push(algorithm.len() as u8);
        body.extend(algorithm);
        body.extend([0x03, 1, 0]);
        let mut cert = vec![SEQUENCE, 0x81, body.len() as u8];
        cert.extend(body);
        cert
    }

    #[test]
    fn the_end_point_hash_follows_the_signature_s_hash() {
        let rsa = |last: u8| outline(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last]);
        let ecdsa = |tail: &[u8]| outline(&[&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04], tail].concat());
        for cert in [rsa(11), rsa(5), rsa(4), ecdsa(&[3, 2]), ecdsa(&[1])] {
            assert_eq!(tls_server_end_point(&cert), Some(sha2::Sha256::digest(&cert).to_vec()));
        }
        for cert in [rsa(12), ecdsa(&[3, 3])] {
            assert_eq!(tls_server_end_point(&cert), Some(sha2::Sha384::digest(&cert).to_vec()));
        }
        for cert in [rsa(13), ecdsa(&[3, 4])] {
            assert_eq!(tls_server_end_point(&cert), Some(sha2::Sha512::digest(&cert).to_vec()));
        }
        // RSA-PSS, Ed25519 (1.3.101.112), and what does not parse: no binding.
        assert_eq!(tls_server_end_point(&rsa(10)), None);
        assert_eq!(tls_server_end_point(&outline(&[0x2b, 0x65, 0x70])), None);
        assert_eq!(tls_server_end_point(&rsa(11)[..10]), None);
        assert_eq!(tls_server_end_point(b""), None);
    }

    #[test]
    fn certificate_errors_are_sorted_into_what_to_do() {
        let untrusted = TlsError::from_certificate(&CertificateError::UnknownIssuer, "db");
        assert!(untrusted.to_string().contains("not trusted"), "{untrusted}");
        assert!(untrusted.to_string().contains("set sslrootcert=PATH"), "{untrusted}");
        let name = TlsError::from_certificate(&CertificateError::NotValidForName, "127.0.0.1");
        assert!(name.to_string().contains("not valid for the host name 127.0.0.1"), "{name}");
        let expired = TlsError::from_certificate(&CertificateError::Expired, "db");
        assert!(matches!(expired, TlsError::Certificate(_)), "{expired}");
    }

    #[test]
    fn a_root_certificate_file_without_a_certificate_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "no certificate here\n").unwrap();
        let tls = UpstreamTls { mode: TlsMode::VerifyFull, root_cert: Some(path.clone()) };
        let error = client_config(&tls).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot use sslrootcert {}: it holds no PEM certificate", path.display())
        );
    }
}
