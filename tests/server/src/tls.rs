//! Optional HTTPS: a rustls acceptor built from PEM text (HTTP/1.1 only).

use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsPem;

/// Builds the acceptor, or explains what is wrong with the certificate or key.
pub(crate) fn acceptor(pem: &TlsPem) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pem.cert_chain.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("TLS certificate: {e}"))?;
    if certs.is_empty() {
        return Err("TLS certificate: no CERTIFICATE block found".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(pem.private_key.as_bytes())
        .map_err(|e| format!("TLS key: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
