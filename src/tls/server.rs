//! Server-side TLS: a certificate and key loaded from PEM files (the gateway's `http.tls`, or a
//! simulator given `--tls-cert`), or a self-signed certificate generated at start (the simulators:
//! one per process, shared by every simulated device), plus the SHA-256 fingerprint that operators
//! compare with what a client sees.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls::fingerprint_sha256;

/// A server certificate chain with its key, ready to become a [`tokio_rustls::TlsAcceptor`].
pub struct ServerIdentity {
    /// PEM of the leaf certificate when this process generated it (usable as a client CA file).
    pub generated_pem: Option<String>,
    /// Colon-separated upper-case hex SHA-256 of the leaf certificate DER.
    pub fingerprint_sha256: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ServerIdentity {
    /// Generates a self-signed certificate valid for `localhost`, `127.0.0.1`, `::1` and
    /// `listen_ip` (when it is a concrete address), so clients can verify it instead of disabling
    /// verification.
    pub fn generate(listen_ip: IpAddr) -> anyhow::Result<ServerIdentity> {
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let listen_name = listen_ip.to_string();
        if !listen_ip.is_unspecified() && !names.contains(&listen_name) {
            names.push(listen_name);
        }
        let mut params =
            rcgen::CertificateParams::new(names).context("invalid certificate names")?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "netpulse sim dme");
        let key_pair = rcgen::KeyPair::generate().context("generate the simulator key pair")?;
        let cert = params
            .self_signed(&key_pair)
            .context("self-sign the simulator certificate")?;
        let key = PrivateKeyDer::try_from(key_pair.serialize_der())
            .map_err(|error| anyhow::anyhow!("encode the simulator key: {error}"))?;
        Ok(ServerIdentity {
            generated_pem: Some(cert.pem()),
            fingerprint_sha256: fingerprint_sha256(cert.der()),
            chain: vec![cert.der().clone()],
            key,
        })
    }

    /// Loads a PEM certificate chain (leaf first) and a PEM private key.
    pub fn from_files(cert_path: &Path, key_path: &Path) -> anyhow::Result<ServerIdentity> {
        let cert_pem = std::fs::read(cert_path)
            .with_context(|| format!("read certificate {}", cert_path.display()))?;
        let key_pem = std::fs::read(key_path)
            .with_context(|| format!("read private key {}", key_path.display()))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parse certificate PEM {}", cert_path.display()))?;
        let Some(leaf) = chain.first() else {
            bail!("no certificate found in {}", cert_path.display());
        };
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .with_context(|| format!("parse private key PEM {}", key_path.display()))?;
        Ok(ServerIdentity {
            generated_pem: None,
            fingerprint_sha256: fingerprint_sha256(leaf),
            chain,
            key,
        })
    }

    /// A rustls server configuration that speaks HTTP/1.1 only: the DME API and its WebSocket
    /// upgrade are HTTP/1.1 on the devices.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        self.server_config_with_client_ca(None)
    }

    /// Like [`ServerIdentity::server_config`], also asking clients for a certificate issued by
    /// one in `client_ca_pem` (clients without one are still served; the handler decides).
    pub fn server_config_with_client_ca(
        &self,
        client_ca_pem: Option<&str>,
    ) -> anyhow::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("select TLS protocol versions")?;
        let builder = match client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots
                        .add(cert.context("invalid PEM in the client CA")?)
                        .context("unusable client CA certificate")?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .context("cannot verify client certificates with this CA")?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .context("certificate and private key do not form a usable server identity")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_has_pem_fingerprint_and_usable_config() {
        let identity = ServerIdentity::generate("127.0.0.1".parse().unwrap()).unwrap();
        let pem = identity.generated_pem.as_deref().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(identity.fingerprint_sha256.len(), 32 * 3 - 1);
        identity.server_config().unwrap();
    }

    #[test]
    fn files_round_trip() {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
        let identity = ServerIdentity::from_files(&cert_path, &key_path).unwrap();
        assert_eq!(identity.fingerprint_sha256, fingerprint_sha256(cert.der()));
        assert!(identity.generated_pem.is_none());
        identity.server_config().unwrap();
    }
}
