//! The client TLS policy shared by every outgoing connection (REST calls and WebSockets to devices,
//! the Webex API); [`server`] holds the server side.
//!
//! Verification is on by default against the system's roots; `ca_file` trusts a given CA (or a
//! device's self-signed certificate) instead; `fingerprint_sha256` pins the device's certificate
//! itself (what most switches with self-signed certificates need: `show crypto ca certificates`
//! or the simulator prints it); `insecure_skip_verify` accepts anything and is meant for labs
//! only: [`http_client`] logs a warning naming the component each time it builds such a client.
//! A certificate the chain check refuses is explained in words (`explain.rs`): what is wrong,
//! what to configure, and the SHA-256 fingerprint the server presented.

mod explain;
mod http_client;
pub mod server;

pub use http_client::{HttpClient, HttpClientOptions, error_chain, http_client, warn_if_insecure};

use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::TlsConfig;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client certificate chain and its key, for servers that authenticate clients by certificate
/// (ISE pxGrid).
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Reads a PEM certificate chain and its PEM private key.
    pub fn from_files(
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> anyhow::Result<ClientIdentity> {
        let chain = CertificateDer::pem_file_iter(cert)
            .with_context(|| format!("cannot read the client certificate {}", cert.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("invalid PEM in {}", cert.display()))?;
        anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("cannot read the private key {}", key.display()))?;
        Ok(ClientIdentity { chain, key })
    }
}

/// Builds the rustls client configuration for a source's `tls:` settings.
pub fn client_config(tls: &TlsConfig) -> anyhow::Result<Arc<ClientConfig>> {
    client_config_with_identity(tls, None)
}

/// Like [`client_config`], presenting `identity` to servers that ask for a client certificate.
pub fn client_config_with_identity(
    tls: &TlsConfig,
    identity: Option<&ClientIdentity>,
) -> anyhow::Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version is available")?;
    let check = if let Some(pin) = &tls.fingerprint_sha256 {
        Check::Pin(parse_fingerprint(pin).map_err(anyhow::Error::msg)?)
    } else if tls.insecure_skip_verify {
        Check::Any
    } else {
        let trusted = match &tls.ca_file {
            Some(path) => format!("tls.ca_file {}", path.display()),
            None => "the system's root certificates".to_owned(),
        };
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(root_store(tls)?),
            provider(),
        )
        .build()
        .context("cannot verify server certificates with these roots")?;
        Check::Chain { webpki, trusted }
    };
    let verified = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            check,
            provider: provider(),
        }));
    let config = match identity {
        Some(identity) => verified
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .context("the client certificate and key do not form a usable identity")?,
        None => verified.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn root_store(tls: &TlsConfig) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read CA file {}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.with_context(|| format!("invalid PEM in CA file {}", path.display()))?;
                roots.add(cert).with_context(|| {
                    format!("unusable certificate in CA file {}", path.display())
                })?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "CA file {} holds no certificate",
                path.display()
            );
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for error in &native.errors {
                tracing::debug!(error = %error, "skipping an unreadable system root certificate");
            }
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            anyhow::ensure!(
                added > 0,
                "no system root certificate found: set tls.ca_file to the device's CA"
            );
        }
    }
    Ok(roots)
}

/// The SHA-256 fingerprint of a certificate (DER), as `AB:CD:...`, the form devices and browsers show.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(der);
    digest
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads a SHA-256 fingerprint written with or without colons or spaces, in either case.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let hex: String = text.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let invalid =
        || format!("{text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
    if hex.len() != 64 {
        return Err(invalid());
    }
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).map_err(|_| invalid())?;
    }
    Ok(bytes)
}

/// How the server's certificate is checked.
#[derive(Debug)]
enum Check {
    /// Exactly the certificate with this SHA-256 fingerprint, whatever its issuer or names (like
    /// an SSH host key).
    Pin([u8; 32]),
    /// Anything (`insecure_skip_verify`).
    Any,
    /// The chain up to the roots (`ca_file` or the system's), each refusal explained in words;
    /// `trusted` names the roots.
    Chain {
        webpki: Arc<rustls::client::WebPkiServerVerifier>,
        trusted: String,
    },
}

/// The one verifier of the client policy. Whatever the [`Check`], the handshake signatures are
/// verified against the presented certificate, so the connection stays encrypted.
#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let expected = match &self.check {
            Check::Any => return Ok(ServerCertVerified::assertion()),
            Check::Chain { webpki, trusted } => {
                return webpki
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                    .map_err(|error| explain::refusal(error, trusted, end_entity));
            }
            Check::Pin(expected) => expected,
        };
        use sha2::Digest;
        let actual = sha2::Sha256::digest(end_entity.as_ref());
        // Compared without an early exit, as secrets are, though a fingerprint is public.
        let difference = actual
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: the device presented {}, tls.fingerprint_sha256 expects another",
                fingerprint_sha256(end_entity.as_ref())
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_in_the_forms_people_paste() {
        let colons = fingerprint_sha256(b"certificate");
        let expected = parse_fingerprint(&colons).unwrap();
        assert_eq!(
            parse_fingerprint(&colons.replace(':', "").to_lowercase()).unwrap(),
            expected
        );
        assert!(
            parse_fingerprint("AB:CD")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
