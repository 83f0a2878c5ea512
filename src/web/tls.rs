//! `tls_server_config` turned into a rustls server configuration (ring provider).

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{
    CertificateError, CipherSuite, DigitallySignedStruct, DistinguishedName, NamedGroup,
    RootCertStore, SignatureScheme, SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// `client_auth_type`, with Go's `crypto/tls` meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// A certificate is asked for; none is required and none is verified.
    RequestClientCert,
    /// A certificate is required, but not verified against a CA.
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must chain to the client CA.
    VerifyClientCertIfGiven,
    /// A certificate is required and must chain to the client CA.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub fn parse(name: &str) -> Option<ClientAuth> {
        Some(match name {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // The older name, still accepted by the exporter toolkit.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    fn requires(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// Everything `tls_server_config` says, with files already read.
pub(crate) struct TlsSource {
    /// PEM: the server certificate, then any intermediates.
    pub cert_pem: Vec<u8>,
    /// The key `cert_pem` came from: `cert_file` or `cert`.
    pub cert_key: &'static str,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
    /// `key_file` or `key`.
    pub key_key: &'static str,
    pub client_auth: ClientAuth,
    /// PEM: the CAs that client certificates must chain to.
    pub client_ca_pem: Option<Vec<u8>>,
    /// `client_ca_file` or `client_ca`.
    pub client_ca_key: &'static str,
    pub client_allowed_sans: Option<Vec<String>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
}

/// Why `tls_server_config` was refused: the key at fault and what is wrong with it. Never
/// holds key material.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TlsRefusal {
    /// The key under `tls_server_config`, e.g. `cert_file`.
    pub key: &'static str,
    pub message: String,
}

fn refuse(key: &'static str, message: impl Into<String>) -> TlsRefusal {
    TlsRefusal {
        key,
        message: message.into(),
    }
}

/// Go's TLS 1.2 cipher-suite names that rustls offers. TLS 1.3 suites are always all on,
/// as in Go, whatever `cipher_suites` says.
const TLS12_SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

const TLS13_SUITE_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go's curve names that the ring provider offers (it has no P-521).
const CURVES: &[(&str, NamedGroup)] = &[
    ("X25519", NamedGroup::X25519),
    ("CurveP256", NamedGroup::secp256r1),
    ("CurveP384", NamedGroup::secp384r1),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls12,
    Tls13,
}

fn parse_version(key: &'static str, value: Option<&str>) -> Result<Option<Version>, TlsRefusal> {
    match value {
        None => Ok(None),
        Some("TLS12") => Ok(Some(Version::Tls12)),
        Some("TLS13") => Ok(Some(Version::Tls13)),
        Some(v @ ("TLS10" | "TLS11")) => Err(refuse(
            key,
            format!("{v} is not supported: TLS 1.0 and 1.1 are obsolete; use TLS12 or TLS13"),
        )),
        Some(other) => Err(refuse(
            key,
            format!("unknown TLS version {other:?}; expected TLS12 or TLS13"),
        )),
    }
}

/// The server configuration `source` describes.
pub(crate) fn server_config(source: &TlsSource) -> Result<Arc<ServerConfig>, TlsRefusal> {
    let chain = certificates(&source.cert_pem).map_err(|m| refuse(source.cert_key, m))?;
    if chain.is_empty() {
        return Err(refuse(source.cert_key, "no PEM certificate found"));
    }
    // The key's own parse error could quote part of it: say only what went wrong.
    let key = PrivateKeyDer::from_pem_slice(&source.key_pem).map_err(|_| {
        refuse(
            source.key_key,
            "no PEM private key found (PKCS#8, PKCS#1 or SEC1 expected)",
        )
    })?;

    let provider = Arc::new(provider(source)?);

    let min =
        parse_version("min_version", source.min_version.as_deref())?.unwrap_or(Version::Tls12);
    let max =
        parse_version("max_version", source.max_version.as_deref())?.unwrap_or(Version::Tls13);
    if min > max {
        return Err(refuse("min_version", "min_version is above max_version"));
    }
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, version)| version)
    .collect();

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| refuse("cipher_suites", format!("no usable cipher suite: {e}")))?;
    let verifier = client_verifier(source, &provider)?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            refuse(
                source.key_key,
                format!("the certificate and key cannot be used together: {e}"),
            )
        })?;
    // Only HTTP/1.1 is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read the PEM certificates: {e}"))
}

/// The ring provider, narrowed to the listed cipher suites and curves.
fn provider(source: &TlsSource) -> Result<CryptoProvider, TlsRefusal> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &source.cipher_suites {
        let mut wanted = Vec::new();
        for name in names {
            if let Some((_, suite)) = TLS12_SUITES.iter().find(|(n, _)| n == name) {
                wanted.push(*suite);
            } else if !TLS13_SUITE_NAMES.contains(&name.as_str()) {
                let offered: Vec<&str> = TLS12_SUITES.iter().map(|(n, _)| *n).collect();
                return Err(refuse(
                    "cipher_suites",
                    format!(
                        "{name:?} is not offered; TLS 1.2 suites available: {}",
                        offered.join(", ")
                    ),
                ));
            }
        }
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13 || wanted.contains(&s.suite()));
    }
    if let Some(names) = &source.curve_preferences {
        let mut groups = Vec::new();
        for name in names {
            let Some((_, group)) = CURVES.iter().find(|(n, _)| n == name) else {
                return Err(refuse(
                    "curve_preferences",
                    format!("{name:?} is not offered; available: X25519, CurveP256, CurveP384"),
                ));
            };
            if let Some(kx) = provider.kx_groups.iter().find(|g| g.name() == *group) {
                groups.push(*kx);
            }
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn client_verifier(
    source: &TlsSource,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsRefusal> {
    let auth = source.client_auth;
    let roots = match &source.client_ca_pem {
        None => None,
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            let certs = certificates(pem).map_err(|m| refuse(source.client_ca_key, m))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(refuse(
                    source.client_ca_key,
                    "no usable CA certificate found",
                ));
            }
            Some(Arc::new(roots))
        }
    };
    if roots.is_some() && auth == ClientAuth::NoClientCert {
        return Err(refuse(
            "client_auth_type",
            "a client CA is set but client_auth_type asks for no client certificate",
        ));
    }
    if source.client_allowed_sans.is_some() && !auth.requires() {
        return Err(refuse(
            "client_allowed_sans",
            "client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert",
        ));
    }
    if let Some(warning) = unauthenticated_sans(auth, source.client_allowed_sans.is_some()) {
        tracing::warn!(key = "tls_server_config.client_allowed_sans", "{warning}");
    }
    let verifier: Arc<dyn ClientCertVerifier> = match (auth, roots) {
        (ClientAuth::NoClientCert, _) => WebPkiClientVerifier::no_client_auth(),
        (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, roots) => {
            Arc::new(AnyClientCert {
                mandatory: auth.requires(),
                hints: roots.map(|r| r.subjects()).unwrap_or_default(),
                algorithms: provider.signature_verification_algorithms,
            })
        }
        (_, None) => {
            return Err(refuse(
                "client_ca_file",
                "client_auth_type VerifyClientCertIfGiven and RequireAndVerifyClientCert need client_ca_file (or client_ca)",
            ));
        }
        (_, Some(roots)) => {
            debug_assert!(auth.verifies());
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if auth.requires() {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            builder
                .build()
                .map_err(|e| refuse(source.client_ca_key, e.to_string()))?
        }
    };
    Ok(match &source.client_allowed_sans {
        Some(allowed) => Arc::new(AllowedSans {
            inner: verifier,
            allowed: allowed.clone(),
        }),
        None => verifier,
    })
}

/// Why `client_allowed_sans` without verification protects nothing: anyone can make a
/// self-signed certificate naming an allowed SAN. Allowed (the toolkit allows it), but said
/// at every load, as the toolkit's docs advise `RequireAndVerifyClientCert`.
fn unauthenticated_sans(auth: ClientAuth, sans: bool) -> Option<&'static str> {
    (sans && auth == ClientAuth::RequireAnyClientCert).then_some(
        "client_allowed_sans with client_auth_type RequireAnyClientCert authenticates nothing: \
         any self-signed certificate can name an allowed SAN; use RequireAndVerifyClientCert \
         with client_ca_file",
    )
}

/// `RequestClientCert` and `RequireAnyClientCert`: any certificate is taken, but the client
/// must still prove it holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: after the usual checks, the client certificate must carry one of
/// these subject alternative names (DNS, e-mail, IP or URI, compared exactly).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let sans = subject_alt_names(end_entity).ok_or(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ))?;
        if sans.iter().any(|san| self.allowed.contains(san)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
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

/// The certificate's subject alternative names as Go's `crypto/x509` spells them; `None`
/// when the certificate cannot be parsed.
fn subject_alt_names(cert: &CertificateDer<'_>) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let Some(extension) = parsed.subject_alternative_name().ok()? else {
        return Some(Vec::new());
    };
    let mut names = Vec::new();
    for name in &extension.value.general_names {
        match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                names.push((*s).to_owned());
            }
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    names.push(ip.to_string());
                }
            }
            _ => {}
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pki {
        ca_pem: String,
        cert_pem: String,
        key_pem: String,
    }

    /// A CA, and a server certificate for localhost signed by it.
    fn pki() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn source(pki: &Pki) -> TlsSource {
        TlsSource {
            cert_pem: pki.cert_pem.clone().into_bytes(),
            cert_key: "cert_file",
            key_pem: pki.key_pem.clone().into_bytes(),
            key_key: "key_file",
            client_auth: ClientAuth::NoClientCert,
            client_ca_pem: None,
            client_ca_key: "client_ca_file",
            client_allowed_sans: None,
            min_version: None,
            max_version: None,
            cipher_suites: None,
            curve_preferences: None,
        }
    }

    fn refusal(source: &TlsSource) -> TlsRefusal {
        match server_config(source) {
            Ok(_) => panic!("accepted"),
            Err(refusal) => refusal,
        }
    }

    #[test]
    fn a_certificate_and_its_key_make_a_server_config() {
        let pki = pki();
        let config = server_config(&source(&pki)).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let pki = pki();
        let other = self::pki();
        let mut s = source(&pki);
        s.key_pem = other.key_pem.into_bytes();
        let r = refusal(&s);
        assert_eq!(r.key, "key_file");
        assert!(
            r.message.contains("cannot be used together"),
            "{}",
            r.message
        );
    }

    #[test]
    fn missing_pem_content_is_named_by_its_key() {
        let pki = pki();
        let mut s = source(&pki);
        s.cert_pem = b"not a certificate".to_vec();
        s.cert_key = "cert";
        assert_eq!(refusal(&s).key, "cert");
        let mut s = source(&pki);
        // A certificate where the key should be.
        s.key_pem = pki.cert_pem.clone().into_bytes();
        let r = refusal(&s);
        assert_eq!(r.key, "key_file");
        assert!(!r.message.contains("BEGIN"), "{}", r.message);
    }

    #[test]
    fn client_auth_combinations_the_toolkit_refuses() {
        let pki = pki();
        let mut s = source(&pki);
        s.client_ca_pem = Some(pki.ca_pem.clone().into_bytes());
        assert_eq!(refusal(&s).key, "client_auth_type", "a CA without a policy");

        let mut s = source(&pki);
        s.client_auth = ClientAuth::RequireAndVerifyClientCert;
        assert_eq!(
            refusal(&s).key,
            "client_ca_file",
            "verification without a CA"
        );

        let mut s = source(&pki);
        s.client_auth = ClientAuth::VerifyClientCertIfGiven;
        s.client_ca_pem = Some(pki.ca_pem.clone().into_bytes());
        s.client_allowed_sans = Some(vec!["client".into()]);
        assert_eq!(
            refusal(&s).key,
            "client_allowed_sans",
            "SANs without a required certificate"
        );

        let mut s = source(&pki);
        s.client_auth = ClientAuth::RequireAndVerifyClientCert;
        s.client_ca_pem = Some(b"no certificate here".to_vec());
        assert_eq!(refusal(&s).key, "client_ca_file");
    }

    #[test]
    fn every_client_auth_type_with_a_ca_builds() {
        let pki = pki();
        for auth in [
            ClientAuth::RequestClientCert,
            ClientAuth::RequireAnyClientCert,
            ClientAuth::VerifyClientCertIfGiven,
            ClientAuth::RequireAndVerifyClientCert,
        ] {
            let mut s = source(&pki);
            s.client_auth = auth;
            s.client_ca_pem = Some(pki.ca_pem.clone().into_bytes());
            server_config(&s).unwrap();
            let verifier = client_verifier(&s, &Arc::new(provider(&s).unwrap())).unwrap();
            assert!(verifier.offer_client_auth(), "{auth:?}");
            assert_eq!(
                verifier.client_auth_mandatory(),
                matches!(
                    auth,
                    ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
                ),
                "{auth:?}"
            );
        }
    }

    #[test]
    fn client_auth_names() {
        assert_eq!(ClientAuth::parse(""), Some(ClientAuth::NoClientCert));
        assert_eq!(
            ClientAuth::parse("RequireClientCert"),
            Some(ClientAuth::RequireAnyClientCert)
        );
        assert_eq!(
            ClientAuth::parse("RequireAndVerifyClientCert"),
            Some(ClientAuth::RequireAndVerifyClientCert)
        );
        assert_eq!(ClientAuth::parse("requireandverifyclientcert"), None);
    }

    #[test]
    fn versions_outside_tls12_and_tls13_are_refused() {
        let pki = pki();
        let mut s = source(&pki);
        s.min_version = Some("TLS10".into());
        assert_eq!(refusal(&s).key, "min_version");
        let mut s = source(&pki);
        s.max_version = Some("TLS14".into());
        assert_eq!(refusal(&s).key, "max_version");
        let mut s = source(&pki);
        s.min_version = Some("TLS13".into());
        s.max_version = Some("TLS12".into());
        assert_eq!(refusal(&s).key, "min_version");
        let mut s = source(&pki);
        s.min_version = Some("TLS13".into());
        server_config(&s).unwrap();
    }

    #[test]
    fn cipher_suites_narrow_tls12_and_leave_tls13_alone() {
        let pki = pki();
        let mut s = source(&pki);
        s.cipher_suites = Some(vec![
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
            "TLS_AES_128_GCM_SHA256".into(),
        ]);
        let p = provider(&s).unwrap();
        let mut suites: Vec<CipherSuite> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        suites.sort_by_key(|s| u16::from(*s));
        assert_eq!(
            suites,
            vec![
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ]
        );
        server_config(&s).unwrap();

        let mut s = source(&pki);
        s.cipher_suites = Some(vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into()]);
        let r = refusal(&s);
        assert_eq!(r.key, "cipher_suites");
        assert!(r.message.contains("TLS_RSA_WITH_AES_128_CBC_SHA"));
    }

    #[test]
    fn curve_preferences_follow_the_listed_order() {
        let pki = pki();
        let mut s = source(&pki);
        s.curve_preferences = Some(vec!["CurveP384".into(), "X25519".into()]);
        let p = provider(&s).unwrap();
        let names: Vec<NamedGroup> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(names, vec![NamedGroup::secp384r1, NamedGroup::X25519]);
        s.curve_preferences = Some(vec!["CurveP521".into()]);
        assert_eq!(refusal(&s).key, "curve_preferences");
    }

    #[test]
    fn subject_alt_names_as_go_prints_them() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![
            rcgen::SanType::DnsName("scraper.example".try_into().unwrap()),
            rcgen::SanType::IpAddress("10.1.2.3".parse().unwrap()),
            rcgen::SanType::IpAddress("2001:db8::1".parse().unwrap()),
            rcgen::SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
            rcgen::SanType::URI("spiffe://cluster/prometheus".try_into().unwrap()),
        ];
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_alt_names(cert.der()).unwrap(),
            vec![
                "scraper.example",
                "10.1.2.3",
                "2001:db8::1",
                "ops@example.com",
                "spiffe://cluster/prometheus",
            ]
        );
        assert_eq!(
            subject_alt_names(&CertificateDer::from(b"junk".to_vec())),
            None
        );
    }

    #[test]
    fn allowed_sans_without_verification_is_called_out() {
        let warning = unauthenticated_sans(ClientAuth::RequireAnyClientCert, true);
        assert!(warning.is_some_and(|w| w.contains("authenticates nothing")));
        for auth in [
            ClientAuth::RequireAndVerifyClientCert,
            ClientAuth::RequireAnyClientCert,
        ] {
            if auth.verifies() {
                assert_eq!(unauthenticated_sans(auth, true), None);
            }
            assert_eq!(unauthenticated_sans(auth, false), None);
        }
    }
}
