//! The control plane's own certificate authority: a serving certificate for 127.0.0.1, client
//! certificates for named identities, and the ServiceAccount token signing key.
//!
//! Everything is generated per test process (EC P-256, ring), so nothing secret is committed and
//! no two runs share a trust root. The API server authenticates a client certificate's common
//! name as the user and its organisations as groups, which is how [`Identity`] becomes a user in
//! RBAC.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// Someone the API server will recognise: a user name and its groups.
///
/// `Identity::admin()` is in `system:masters` (bypasses RBAC); any other identity has exactly the
/// permissions RBAC objects grant it, which is how tests prove the controller's least privilege.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// The user name (certificate common name).
    pub user: String,
    /// Groups (certificate organisations).
    pub groups: Vec<String>,
}

impl Identity {
    /// A user with no groups beyond `system:authenticated`.
    pub fn user(name: impl Into<String>) -> Identity {
        Identity {
            user: name.into(),
            groups: Vec::new(),
        }
    }

    /// The cluster administrator: `system:masters`, which RBAC never restricts.
    pub fn admin() -> Identity {
        Identity {
            user: "fleetward-test-admin".into(),
            groups: vec!["system:masters".into()],
        }
    }

    /// The ServiceAccount `namespace/name` as the API server names it in RBAC and audit logs.
    ///
    /// Tests use a client certificate with this name and the ServiceAccount groups, so RBAC
    /// bindings to the ServiceAccount subject apply exactly as they would to its token.
    pub fn service_account(namespace: &str, name: &str) -> Identity {
        Identity {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
            ],
        }
    }
}

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    /// `-----BEGIN CERTIFICATE-----` …
    pub cert_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8) …
    pub key_pem: String,
}

/// The CA and the keys derived from it.
pub struct Pki {
    ca_cert_pem: String,
    ca: Issuer<'static, KeyPair>,
    serving: CertifiedKey,
    service_account_key_pem: String,
    service_account_public_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn pki_error(what: &str, e: rcgen::Error) -> Error {
    Error::Pki {
        what: what.to_string(),
        message: e.to_string(),
    }
}

impl Pki {
    /// A fresh CA, a serving certificate for `127.0.0.1` and `localhost`, and a ServiceAccount
    /// signing key.
    ///
    /// # Errors
    /// [`Error::Pki`] if key generation or signing fails.
    pub fn generate() -> Result<Pki, Error> {
        let ca_key = KeyPair::generate().map_err(|e| pki_error("CA key", e))?;
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "fleetward-testenv-ca");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| pki_error("CA certificate", e))?;
        let ca = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate().map_err(|e| pki_error("serving key", e))?;
        let mut serving_params =
            CertificateParams::new(vec!["localhost".to_string(), "kubernetes".to_string()])
                .map_err(|e| pki_error("serving certificate", e))?;
        serving_params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        serving_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        serving_params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        let serving_cert = serving_params
            .signed_by(&serving_key, &ca)
            .map_err(|e| pki_error("serving certificate", e))?;

        let sa_key = KeyPair::generate().map_err(|e| pki_error("ServiceAccount key", e))?;
        Ok(Pki {
            ca_cert_pem: ca_cert.pem(),
            ca,
            serving: CertifiedKey {
                cert_pem: serving_cert.pem(),
                key_pem: serving_key.serialize_pem(),
            },
            service_account_key_pem: sa_key.serialize_pem(),
            service_account_public_pem: sa_key.public_key_pem(),
        })
    }

    /// The CA certificate (PEM), for `--client-ca-file` and for clients to trust the server.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The API server's serving certificate and key.
    pub fn serving(&self) -> &CertifiedKey {
        &self.serving
    }

    /// The ServiceAccount token signing key (PKCS#8 PEM, EC P-256).
    pub fn service_account_key_pem(&self) -> &str {
        &self.service_account_key_pem
    }

    /// The ServiceAccount token verification key (SPKI PEM), for `--service-account-key-file`.
    pub fn service_account_public_pem(&self) -> &str {
        &self.service_account_public_pem
    }

    /// A client certificate for `identity`, signed by the CA.
    ///
    /// # Errors
    /// [`Error::Pki`] if key generation or signing fails.
    pub fn client_certificate(&self, identity: &Identity) -> Result<CertifiedKey, Error> {
        let key = KeyPair::generate().map_err(|e| pki_error("client key", e))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, identity.user.as_str());
        for group in &identity.groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group.as_str());
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.ca)
            .map_err(|e| pki_error("client certificate", e))?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_pem_material() {
        let pki = Pki::generate().unwrap();
        assert!(pki.ca_cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.serving().key_pem.contains("PRIVATE KEY"));
        let a = pki.client_certificate(&Identity::admin()).unwrap();
        let b = pki
            .client_certificate(&Identity::service_account("ns", "sa"))
            .unwrap();
        assert_ne!(a.cert_pem, b.cert_pem);
        assert_ne!(a.key_pem, pki.service_account_key_pem());
    }

    #[test]
    fn service_account_identity_uses_the_api_server_naming() {
        let id = Identity::service_account("fleetward-system", "fleetward");
        assert_eq!(id.user, "system:serviceaccount:fleetward-system:fleetward");
        assert!(
            id.groups
                .contains(&"system:serviceaccounts:fleetward-system".to_string())
        );
    }
}
