//! The TLS side of a link: node keys as RFC 7250 raw public keys, verified both ways.

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::{ALPN, QuicError};
use crate::identity::{Identity, NodeId};

pub use crate::limits::IDLE_TIMEOUT;

/// The SubjectPublicKeyInfo DER of an Ed25519 key: what this node presents.
pub fn spki_of(public: &[u8; 32]) -> Option<Vec<u8>> {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let key = ed25519_dalek::VerifyingKey::from_bytes(public).ok()?;
    key.to_public_key_der().ok().map(|d| d.as_bytes().to_vec())
}

/// The Ed25519 key in a presented raw public key; `None` unless it is exactly the
/// DER this code writes for an Ed25519 key (one spelling only).
pub fn key_of(spki: &[u8]) -> Option<[u8; 32]> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let key = ed25519_dalek::VerifyingKey::from_public_key_der(spki).ok()?.to_bytes();
    (spki_of(&key)?.as_slice() == spki).then_some(key)
}

/// The node at the other end of an established connection.
pub fn peer_node(conn: &quinn::Connection) -> Option<NodeId> {
    let certs = conn.peer_identity()?.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    key_of(certs.first()?.as_ref()).map(|k| NodeId::from_signing_public(&k))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, QuicError> {
    let spki = spki_of(&identity.signing_public()).ok_or_else(|| QuicError::Tls("node key".into()))?;
    let pkcs8 = identity.signing_pkcs8().ok_or_else(|| QuicError::Tls("node key encoding".into()))?;
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8))
        .map_err(|e| QuicError::Tls(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(vec![CertificateDer::from(spki)], signer)))
}

/// Checks a peer's raw public key: Ed25519, and the expected one if any.
#[derive(Debug)]
struct NodeKeyVerifier {
    expected: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl NodeKeyVerifier {
    fn new(expected: Option<[u8; 32]>) -> Self {
        NodeKeyVerifier { expected, algorithms: provider().signature_verification_algorithms }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding));
        }
        let key =
            key_of(end_entity.as_ref()).ok_or(rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        match self.expected {
            Some(want) if want != key => Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)),
            _ => Ok(()),
        }
    }

    fn verify13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }
}

/// The signature checks both verifier traits share: TLS 1.3 only, Ed25519 raw public
/// keys only.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.verify13(message, cert, dss)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }
        fn requires_raw_public_keys(&self) -> bool {
            true
        }
    };
}

impl ServerCertVerifier for NodeKeyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates).map(|_| ServerCertVerified::assertion())
    }
    signature_checks!();
}

impl ClientCertVerifier for NodeKeyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates).map(|_| ClientCertVerified::assertion())
    }
    signature_checks!();
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    Arc::new(t)
}

/// A listener's configuration: presents our key, requires the dialler's (any node).
pub fn server_config(identity: &Identity) -> Result<quinn::ServerConfig, QuicError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(NodeKeyVerifier::new(None)))
        .with_cert_resolver(Arc::new(rustls::server::AlwaysResolvesServerRawPublicKeys::new(certified_key(identity)?)));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(transport());
    Ok(config)
}

/// A dialler's configuration: presents our key, and accepts only `expected` (the
/// Ed25519 key from the peer's contact card).
pub fn client_config(identity: &Identity, expected: &[u8; 32]) -> Result<quinn::ClientConfig, QuicError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| QuicError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NodeKeyVerifier::new(Some(*expected))))
        .with_client_cert_resolver(Arc::new(rustls::client::AlwaysResolvesClientRawPublicKeys::new(certified_key(
            identity,
        )?)));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|e| QuicError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport());
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_public_keys_have_one_spelling() {
        let id = Identity::generate();
        let spki = spki_of(&id.signing_public()).unwrap();
        assert_eq!(key_of(&spki), Some(id.signing_public()));
        let mut longer = spki.clone();
        longer.push(0);
        assert_eq!(key_of(&longer), None);
        assert_eq!(key_of(&spki[..spki.len() - 1]), None);
    }
}
