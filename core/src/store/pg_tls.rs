//! TLS for PostgreSQL connections, asked for in the URL as libpq users write it:
//! `?sslmode=require`, `verify-ca` or `verify-full`, with `sslrootcert=FILE` (PEM) or
//! `sslrootcert=system` (Mozilla's root list).
//!
//! | `sslmode` | encrypted | server certificate |
//! |---|---|---|
//! | absent, `disable`, `allow`, `prefer` | no | – |
//! | `require` | yes | not checked, unless `sslrootcert` is given (then as `verify-ca`, as libpq does) |
//! | `verify-ca` | yes | signed by a root of `sslrootcert` |
//! | `verify-full` | yes | signed by a root of `sslrootcert` and naming the host of the URL |
//!
//! `prefer` (libpq's default) connects without TLS here: a server offering TLS with a certificate the
//! client cannot check would otherwise fail connections that work today. The TLS stack is rustls.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// How a connection is protected, from the URL's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS.
    Off,
    /// Encrypted; the certificate is not checked.
    Require,
    /// Encrypted; the certificate chains to a trusted root.
    VerifyCa,
    /// Encrypted; the certificate chains to a trusted root and names the host.
    VerifyFull,
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCerts {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// Mozilla's root list, as built in (`sslrootcert=system`).
    System,
}

/// The TLS settings of a connection URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The mode.
    pub mode: TlsMode,
    /// The trusted roots, when given.
    pub root_cert: Option<RootCerts>,
}

impl TlsSettings {
    /// The driver's mode: TLS required, or none.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            TlsMode::Off => SslMode::Disable,
            _ => SslMode::Require,
        }
    }

    /// The connector for these settings (never used when the mode is off).
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        // `require` with a root file checks the chain, as libpq does.
        let mode = match (&self.mode, &self.root_cert) {
            (TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
            (mode, _) => *mode,
        };
        let config = match mode {
            TlsMode::Off | TlsMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                .with_no_client_auth(),
            TlsMode::VerifyCa | TlsMode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| invalid(format!("sslrootcert: {e}")))?;
                if mode == TlsMode::VerifyFull {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(webpki)
                        .with_no_client_auth()
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
                        .with_no_client_auth()
                }
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            None => return Err(invalid(
                "sslmode=verify-ca and verify-full need sslrootcert=FILE (PEM CA certificates) \
                     or sslrootcert=system"
                    .to_string(),
            )),
            Some(RootCerts::System) => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(RootCerts::File(path)) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(|e| invalid(format!("sslrootcert {}: {e}", path.display())))?;
                let (added, _ignored) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(invalid(format!(
                        "sslrootcert {}: no CA certificate in the file",
                        path.display()
                    )));
                }
            }
        }
        Ok(roots)
    }
}

/// Splits the TLS parameters (`sslmode`, `sslrootcert`) off a connection URL: the URL the driver
/// parses (it knows neither `verify-*` nor `sslrootcert`), and the settings.
pub fn split_url(url: &str) -> Result<(String, TlsSettings)> {
    let mut settings = TlsSettings {
        mode: TlsMode::Off,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), settings));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                settings.mode = match percent_decode(value)?.as_str() {
                    "disable" | "allow" | "prefer" => TlsMode::Off,
                    "require" => TlsMode::Require,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(invalid(format!(
                            "sslmode={other}: expected disable, prefer, require, verify-ca or \
                             verify-full"
                        )))
                    }
                }
            }
            "sslrootcert" => {
                let value = percent_decode(value)?;
                settings.root_cert = Some(if value == "system" {
                    RootCerts::System
                } else {
                    RootCerts::File(PathBuf::from(value))
                });
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, settings))
}

/// Decodes `%XX` escapes of a URL query value.
fn percent_decode(value: &str) -> Result<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid(format!("bad %-escape in {value:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid(format!("{value:?} is not UTF-8 once decoded")))
}

fn invalid(reason: String) -> Error {
    Error::InvalidConfig {
        name: "STORAGE_URL".into(),
        reason,
    }
}

fn tls_error(e: rustls::Error) -> Error {
    Error::storage(format!("TLS setup: {e}"))
}

/// `sslmode=require`: encryption without checking who answers (libpq's meaning). The handshake's
/// signatures are still checked against the certificate presented.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain is checked, the name in the certificate is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_split_off_and_the_rest_is_kept() {
        let (url, tls) = split_url(
            "postgres://u:p@db/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(url, "postgres://u:p@db/x?connect_timeout=3");
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(RootCerts::File("/etc/ca.pem".into())));
        assert_eq!(tls.ssl_mode(), SslMode::Require);

        let (url, tls) = split_url("postgres://db/x?sslmode=prefer").unwrap();
        assert_eq!((url.as_str(), tls.mode), ("postgres://db/x", TlsMode::Off));
        assert_eq!(tls.ssl_mode(), SslMode::Disable);
        let (_, tls) = split_url("postgres://db/x?sslmode=require&sslrootcert=system").unwrap();
        assert_eq!(tls.root_cert, Some(RootCerts::System));
        assert!(tls.connector().is_ok());
    }

    #[test]
    fn tls_settings_that_cannot_work_are_config_errors_naming_storage_url() {
        for url in [
            "postgres://db/x?sslmode=sometimes",
            "postgres://db/x?sslmode=verify-full&sslrootcert=%zz",
        ] {
            let e = split_url(url).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidConfig { name, .. } if name == "STORAGE_URL"),
                "{e:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let missing = dir.path().join("missing.pem");
        for url in [
            "postgres://db/x?sslmode=verify-full".to_string(),
            format!(
                "postgres://db/x?sslmode=verify-ca&sslrootcert={}",
                not_pem.display()
            ),
            format!(
                "postgres://db/x?sslmode=verify-ca&sslrootcert={}",
                missing.display()
            ),
        ] {
            let (_, tls) = split_url(&url).unwrap();
            let e = tls.connector().err().unwrap();
            assert!(
                matches!(&e, Error::InvalidConfig { name, reason } if name == "STORAGE_URL"
                    && reason.contains("sslrootcert")),
                "{url}: {e:?}"
            );
        }
    }
}
