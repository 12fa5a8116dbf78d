//! Handshakes against an in-process TLS server with the kinds of certificate devices present.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::TlsConfig;
use crate::tls::server::ServerIdentity;
use crate::tls::{client_config, fingerprint_sha256};

/// A self-signed certificate for `localhost`, written as PEM files; `is_ca` marks it
/// basicConstraints CA:TRUE, as many devices' self-signed certificates are.
struct SelfSigned {
    _dir: tempfile::TempDir,
    cert_path: std::path::PathBuf,
    identity: ServerIdentity,
    fingerprint: String,
}

fn self_signed(common_name: &str, is_ca: bool) -> SelfSigned {
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    if is_ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let cert = params.self_signed(&key_pair).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("device.pem");
    let key_path = dir.path().join("device.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    SelfSigned {
        identity: ServerIdentity::from_files(&cert_path, &key_path).unwrap(),
        fingerprint: fingerprint_sha256(cert.der()),
        cert_path,
        _dir: dir,
    }
}

/// Serves one TLS handshake with `identity`, then connects with `tls`: the client's error, if
/// any.
async fn handshake(identity: &ServerIdentity, tls: &TlsConfig) -> Result<(), String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.server_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        if let Ok(mut tls) = acceptor.accept(stream).await {
            let mut byte = [0u8; 1];
            let _ = tls.read(&mut byte).await;
        }
    });
    let connector =
        tokio_rustls::TlsConnector::from(client_config(tls).map_err(|e| e.to_string())?);
    let stream = TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let result = match connector.connect(name, stream).await {
        Ok(mut tls) => {
            tls.write_all(b"x").await.unwrap();
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    };
    server.await.unwrap();
    result
}

fn trusting(cert_path: &std::path::Path) -> TlsConfig {
    TlsConfig {
        ca_file: Some(cert_path.to_owned()),
        fingerprint_sha256: None,
        insecure_skip_verify: false,
    }
}

/// Why a client trusting `trusted`'s certificate as its CA refuses `device`.
async fn refusal(device: &SelfSigned, trusted: &SelfSigned) -> String {
    handshake(&device.identity, &trusting(&trusted.cert_path))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_self_signed_ca_certificate_given_as_ca_file_is_explained_with_its_fingerprint() {
    let device = self_signed("sw1", true);
    let error = refusal(&device, &device).await;
    assert!(
        error.contains("CA certificate (basicConstraints CA:TRUE)"),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "tls.fingerprint_sha256: \"{}\"",
            device.fingerprint
        )),
        "{error}"
    );
    assert!(!error.contains("CaUsedAsEndEntity"), "{error}");
    // What the explanation tells the operator to configure works.
    let pinned = TlsConfig {
        ca_file: None,
        fingerprint_sha256: Some(device.fingerprint.clone()),
        insecure_skip_verify: false,
    };
    handshake(&device.identity, &pinned).await.unwrap();
}

#[tokio::test]
async fn a_certificate_from_another_issuer_names_the_ca_file_and_the_fingerprint() {
    let device = self_signed("sw1", false);
    let other = self_signed("sw2", false);
    let error = refusal(&device, &other).await;
    assert!(
        error.contains(&format!(
            "not issued by a CA in tls.ca_file {}",
            other.cert_path.display()
        )),
        "{error}"
    );
    assert!(error.contains(&device.fingerprint), "{error}");
}

#[tokio::test]
async fn a_regenerated_certificate_under_a_trusted_name_is_explained() {
    let before = self_signed("sw1", false);
    let now = self_signed("sw1", false);
    let error = refusal(&now, &before).await;
    assert!(
        error.contains("was the certificate regenerated?"),
        "{error}"
    );
    assert!(error.contains(&now.fingerprint), "{error}");
}

#[tokio::test]
async fn a_self_signed_end_entity_certificate_given_as_ca_file_is_trusted() {
    // What the simulators generate: no basicConstraints CA, so ca_file works for it.
    let device = self_signed("sw1", false);
    handshake(&device.identity, &trusting(&device.cert_path))
        .await
        .unwrap();
}

#[test]
fn every_refusal_says_what_to_do_and_the_fingerprint() {
    let refusals = [
        rustls::CertificateError::Expired,
        rustls::CertificateError::NotValidForName,
        rustls::CertificateError::BadSignature,
    ];
    for refusal in refusals {
        let text = super::explain(&refusal, "the system's root certificates", "AB:CD");
        assert!(
            text.ends_with("SHA-256 fingerprint AB:CD"),
            "{refusal:?}: {text}"
        );
    }
}
