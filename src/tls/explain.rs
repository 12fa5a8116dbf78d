//! Certificate errors in words. The chain check (webpki, through rustls) refuses a certificate
//! with names such as `Other(OtherError(CaUsedAsEndEntity))` or `UnknownIssuer`, which say
//! nothing to an operator who gave a switch's self-signed certificate as `ca_file`. This
//! verifier runs the same check and, when it fails, says what is wrong, what to configure, and
//! which certificate (its SHA-256 fingerprint) the server presented, so it can be compared with
//! what the device shows and pinned.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::fingerprint_sha256;

/// The chain check of [`WebPkiServerVerifier`], with its refusals explained.
#[derive(Debug)]
pub(super) struct Explaining {
    inner: Arc<WebPkiServerVerifier>,
    /// What the chain was checked against, as the explanation names it.
    trusted: String,
}

impl Explaining {
    pub(super) fn new(inner: Arc<WebPkiServerVerifier>, trusted: String) -> Explaining {
        Explaining { inner, trusted }
    }
}

impl ServerCertVerifier for Explaining {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|error| match error {
                rustls::Error::InvalidCertificate(refusal) => rustls::Error::General(explain(
                    &refusal,
                    &self.trusted,
                    &fingerprint_sha256(end_entity.as_ref()),
                )),
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What a refusal means and what to do about it; `trusted` names what the chain was checked
/// against, `fingerprint` is the presented certificate's.
pub(super) fn explain(refusal: &CertificateError, trusted: &str, fingerprint: &str) -> String {
    let pin = format!("tls.fingerprint_sha256: \"{fingerprint}\"");
    let (what, todo) = match refusal {
        // webpki's own error arrives wrapped in `Other`; netpulse does not depend on webpki
        // directly, so the variant is recognized by name (a test pins it).
        CertificateError::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => (
            "the server presented a CA certificate (basicConstraints CA:TRUE) as its own, as \
             devices with a self-signed certificate often do; such a certificate cannot be \
             trusted through tls.ca_file"
                .to_owned(),
            format!(
                "pin it instead: remove tls.ca_file and set {pin} (compare it with the \
                 fingerprint the device shows)"
            ),
        ),
        CertificateError::UnknownIssuer => (
            format!("the server's certificate is not issued by a CA in {trusted}"),
            format!(
                "set tls.ca_file to the CA that issued it; if the certificate is self-signed, \
                 pin it with {pin}"
            ),
        ),
        // The name of a trusted certificate, another key: typically a device that generated a
        // new self-signed certificate under the same name.
        CertificateError::BadSignature => (
            format!(
                "the server's certificate names an issuer in {trusted} but is not signed by its \
                 key (was the certificate regenerated?)"
            ),
            format!(
                "give tls.ca_file the certificate the server presents now, or pin it with {pin}"
            ),
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
            format!("the server's certificate does not name the host in the address ({refusal})"),
            format!("connect by a name or address the certificate holds, or pin it with {pin}"),
        ),
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => (
            format!("the server's certificate is outside its validity period ({refusal})"),
            "renew the certificate on the server, or check this host's clock".to_owned(),
        ),
        other => (
            format!("the server's certificate was refused: {other}"),
            format!("check the certificate the server presents against {trusted}"),
        ),
    };
    format!(
        "{what}: {todo}; the server presented the certificate with SHA-256 fingerprint {fingerprint}"
    )
}

#[cfg(test)]
mod tests;
