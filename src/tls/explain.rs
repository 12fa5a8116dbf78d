//! Certificate errors in words. The chain check (webpki, through rustls) refuses a certificate
//! with names such as `Other(OtherError(CaUsedAsEndEntity))` or `UnknownIssuer`, which say
//! nothing to an operator who gave a switch's self-signed certificate as `ca_file`. Here such a
//! refusal becomes a sentence that says what is wrong, what to configure, and
//! which certificate (its SHA-256 fingerprint) the server presented, so it can be compared with
//! what the device shows and pinned. `tls::Verifier` calls [`refusal`] when its chain check
//! fails.

use rustls::CertificateError;
use rustls::pki_types::CertificateDer;

use super::fingerprint_sha256;

/// The chain check's `error` for the certificate `end_entity`, explained when it is a refusal of
/// the certificate; `trusted` names what the chain was checked against.
pub(super) fn refusal(
    error: rustls::Error,
    trusted: &str,
    end_entity: &CertificateDer<'_>,
) -> rustls::Error {
    match error {
        rustls::Error::InvalidCertificate(refusal) => rustls::Error::General(explain(
            &refusal,
            trusted,
            &fingerprint_sha256(end_entity.as_ref()),
        )),
        other => other,
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
