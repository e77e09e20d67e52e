//! The key and certificate formats IAM accepts, read and checked: X.509
//! certificates in PEM (for signing and server certificates), the private
//! key of a server certificate (which must match it), and SSH public keys in
//! OpenSSH or PEM form. Pure: no I/O.

use md5::{Digest, Md5};
use x509_cert::der::{Decode, Reader, SliceReader};

/// The `rsaEncryption` algorithm of a SubjectPublicKeyInfo.
const RSA_OID: &str = "1.2.840.113549.1.1.1";
/// IAM's minimum SSH key size.
const MIN_SSH_RSA_BITS: usize = 2048;

/// A certificate as IAM keeps it.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCertificate {
    /// `notAfter`, epoch seconds.
    pub not_after: f64,
    /// The subject public key's bits (an RSAPublicKey, or an EC point).
    pub public_key: Vec<u8>,
}

/// The one certificate a PEM body holds (IAM takes exactly one; a chain
/// goes in `CertificateChain`).
pub(crate) fn parse_certificate(pem: &str) -> Option<ParsedCertificate> {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let mut certificates = rustls_pemfile::certs(&mut reader);
    let der = certificates.next()?.ok()?.to_vec();
    if certificates.next().is_some() {
        return None;
    }
    let certificate = x509_cert::Certificate::from_der(&der).ok()?;
    let tbs = &certificate.tbs_certificate;
    let not_after = tbs.validity.not_after.to_unix_duration().as_secs() as f64;
    let public_key = tbs.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
    Some(ParsedCertificate { not_after, public_key })
}

/// Every certificate of a chain, or `None` if any part of it is not one.
pub(crate) fn chain_is_well_formed(pem: &str) -> bool {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let certificates: Result<Vec<_>, _> = rustls_pemfile::certs(&mut reader).collect();
    certificates
        .is_ok_and(|c| !c.is_empty() && c.iter().all(|der| x509_cert::Certificate::from_der(der.as_ref()).is_ok()))
}

/// The public key bits of a PEM private key (PKCS#8 RSA or P-256/P-384,
/// or PKCS#1 RSA), as a certificate's SubjectPublicKeyInfo carries them.
pub(crate) fn private_key_public_bits(pem: &str) -> Option<Vec<u8>> {
    use aws_lc_rs::signature::{self, KeyPair};
    let (item, _) = rustls_pemfile::read_one_from_slice(pem.as_bytes()).ok()??;
    match item {
        rustls_pemfile::Item::Pkcs8Key(key) => {
            let der = key.secret_pkcs8_der();
            if let Ok(rsa) = signature::RsaKeyPair::from_pkcs8(der) {
                return Some(rsa.public_key().as_ref().to_vec());
            }
            for algorithm in [&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &signature::ECDSA_P384_SHA384_ASN1_SIGNING] {
                if let Ok(ec) = signature::EcdsaKeyPair::from_pkcs8(algorithm, der) {
                    return Some(ec.public_key().as_ref().to_vec());
                }
            }
            None
        }
        rustls_pemfile::Item::Pkcs1Key(key) => {
            let rsa = signature::RsaKeyPair::from_der(key.secret_pkcs1_der()).ok()?;
            Some(rsa.public_key().as_ref().to_vec())
        }
        _ => None,
    }
}

/// Why an SSH public key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SshKeyProblem {
    /// Neither `ssh-rsa …` nor a PEM public key.
    Encoding,
    /// Readable, but not an RSA key of at least 2,048 bits.
    Invalid,
}

/// An RSA public key in both of IAM's encodings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshPublicKey {
    /// The OpenSSH wire blob (`string "ssh-rsa", mpint e, mpint n`).
    pub blob: Vec<u8>,
    /// The same key as a DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl SshPublicKey {
    pub fn ssh_text(&self) -> String {
        use base64::Engine;
        format!("ssh-rsa {}", base64::engine::general_purpose::STANDARD.encode(&self.blob))
    }

    pub fn pem_text(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.spki);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    /// The MD5 fingerprint of the key blob as colon-separated hex, the
    /// form `ssh-keygen -l -E md5` prints (MD5 is what AWS reports; it
    /// identifies a key and secures nothing, so it comes from a small
    /// digest crate rather than from aws-lc-rs, whose digest module has no MD5).
    pub fn fingerprint(&self) -> String {
        let digest = Md5::digest(&self.blob);
        digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }
}

/// Reads an SSH public key: `ssh-rsa BASE64 [comment]` or a PEM
/// `PUBLIC KEY` (SubjectPublicKeyInfo) of an RSA key.
pub(crate) fn parse_ssh_public_key(text: &str) -> Result<SshPublicKey, SshKeyProblem> {
    use base64::Engine;
    let text = text.trim();
    let (n, e) = if let Some(rest) = text.strip_prefix("ssh-rsa ") {
        let b64 = rest.split_whitespace().next().ok_or(SshKeyProblem::Encoding)?;
        let blob = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| SshKeyProblem::Encoding)?;
        let mut fields = SshFields(&blob);
        if fields.next() != Some(b"ssh-rsa".as_slice()) {
            return Err(SshKeyProblem::Invalid);
        }
        let e = fields.next().ok_or(SshKeyProblem::Invalid)?.to_vec();
        let n = fields.next().ok_or(SshKeyProblem::Invalid)?.to_vec();
        if !fields.0.is_empty() {
            return Err(SshKeyProblem::Invalid);
        }
        (n, e)
    } else if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        let (item, _) =
            rustls_pemfile::read_one_from_slice(text.as_bytes()).ok().flatten().ok_or(SshKeyProblem::Encoding)?;
        let rustls_pemfile::Item::SubjectPublicKeyInfo(spki) = item else {
            return Err(SshKeyProblem::Encoding);
        };
        let info =
            x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki.as_ref()).map_err(|_| SshKeyProblem::Invalid)?;
        if info.algorithm.oid.to_string() != RSA_OID {
            return Err(SshKeyProblem::Invalid);
        }
        rsa_public_key(info.subject_public_key.raw_bytes()).ok_or(SshKeyProblem::Invalid)?
    } else {
        return Err(SshKeyProblem::Encoding);
    };
    let n = strip_zeros(&n);
    let e = strip_zeros(&e);
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_SSH_RSA_BITS || e.is_empty() || n.last().is_some_and(|b| b % 2 == 0) {
        return Err(SshKeyProblem::Invalid);
    }
    let mut blob = Vec::new();
    for field in [b"ssh-rsa".as_slice(), &mpint(e), &mpint(n)] {
        blob.extend((field.len() as u32).to_be_bytes());
        blob.extend(field);
    }
    let spki = rsa_spki(n, e).ok_or(SshKeyProblem::Invalid)?;
    Ok(SshPublicKey { blob, spki })
}

/// The length-prefixed fields of an OpenSSH key blob.
struct SshFields<'a>(&'a [u8]);

impl<'a> Iterator for SshFields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let length = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let field = self.0.get(4..4usize.checked_add(length)?)?;
        self.0 = self.0.get(4 + length..)?;
        Some(field)
    }
}

/// `(n, e)` of a DER RSAPublicKey.
fn rsa_public_key(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use x509_cert::der::asn1::UintRef;
    let mut reader = SliceReader::new(der).ok()?;
    let (n, e) = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let e = UintRef::decode(r)?;
            Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })
        .ok()?;
    reader.finish(()).ok()?;
    Some((n, e))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// A positive integer's big-endian bytes with the leading zero that keeps
/// its top bit from reading as a sign (SSH mpint and DER INTEGER alike).
fn mpint(magnitude: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend(magnitude);
    out
}

/// The DER SubjectPublicKeyInfo of the RSA key `(n, e)`:
/// `{ rsaEncryption, NULL }` and the RSAPublicKey `SEQUENCE { n, e }`.
fn rsa_spki(n: &[u8], e: &[u8]) -> Option<Vec<u8>> {
    use x509_cert::der::asn1::{Any, BitString, SequenceOf, UintRef};
    use x509_cert::der::Encode;
    use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
    let mut rsa_key = SequenceOf::<UintRef<'_>, 2>::new();
    rsa_key.add(UintRef::new(n).ok()?).ok()?;
    rsa_key.add(UintRef::new(e).ok()?).ok()?;
    let algorithm =
        AlgorithmIdentifierOwned { oid: ObjectIdentifier::new(RSA_OID).ok()?, parameters: Some(Any::null()) };
    let subject_public_key = BitString::from_bytes(&rsa_key.to_der().ok()?).ok()?;
    SubjectPublicKeyInfoOwned { algorithm, subject_public_key }.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit RSA key, in OpenSSH form and as PEM (the same key,
    /// converted with `ssh-keygen -e -m PKCS8`).
    const SSH: &str = include_str!("../data/test-ssh-rsa.pub");
    const PEM: &str = include_str!("../data/test-ssh-rsa.pem");

    #[test]
    fn ssh_and_pem_forms_are_the_same_key() {
        let from_ssh = parse_ssh_public_key(SSH).expect("ssh form");
        let from_pem = parse_ssh_public_key(PEM).expect("pem form");
        assert_eq!(from_ssh, from_pem);
        // The SubjectPublicKeyInfo is byte for byte the one ssh-keygen wrote.
        let (item, _) = rustls_pemfile::read_one_from_slice(PEM.as_bytes()).expect("pem").expect("an item");
        let rustls_pemfile::Item::SubjectPublicKeyInfo(written) = item else { panic!("not a public key") };
        assert_eq!(from_ssh.spki, written.as_ref());
        assert_eq!(from_ssh.ssh_text(), SSH.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        assert_eq!(parse_ssh_public_key(&from_ssh.pem_text()).as_ref(), Ok(&from_ssh));
        let fingerprint = from_ssh.fingerprint();
        assert_eq!(fingerprint.len(), 47);
        assert_eq!(fingerprint, include_str!("../data/test-ssh-rsa.md5").trim());
    }

    #[test]
    fn bad_ssh_keys() {
        assert_eq!(parse_ssh_public_key("ssh-ed25519 AAAA"), Err(SshKeyProblem::Encoding));
        assert_eq!(parse_ssh_public_key("ssh-rsa !!!"), Err(SshKeyProblem::Encoding));
        assert_eq!(parse_ssh_public_key("hello"), Err(SshKeyProblem::Encoding));
        // A blob cut short, and a 1024-bit key.
        let short = &SSH[..200];
        assert!(parse_ssh_public_key(short).is_err());
        assert_eq!(parse_ssh_public_key(include_str!("../data/test-ssh-rsa-1024.pub")), Err(SshKeyProblem::Invalid));
    }

    #[test]
    fn mpint_signs() {
        assert_eq!(mpint(&[0x80]), vec![0, 0x80]);
        assert_eq!(mpint(&[0x7f]), vec![0x7f]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use base64::Engine;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the text, the SSH reader answers without panicking,
        /// and what it accepts it gives back as the same key.
        #[test]
        fn ssh_reader_never_panics(text in ".{0,600}", blob in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_ssh_public_key(&text);
            let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
            if let Ok(key) = parse_ssh_public_key(&format!("ssh-rsa {b64}")) {
                prop_assert_eq!(parse_ssh_public_key(&key.ssh_text()), Ok(key.clone()));
                prop_assert_eq!(parse_ssh_public_key(&key.pem_text()), Ok(key));
            }
            let _ = parse_ssh_public_key(&format!(
                "-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"
            ));
        }

        /// Certificates and private keys: arbitrary DER inside PEM armour.
        #[test]
        fn certificate_readers_never_panic(der in proptest::collection::vec(any::<u8>(), 0..800)) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
            for label in ["CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"] {
                let pem = format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n");
                let _ = parse_certificate(&pem);
                let _ = chain_is_well_formed(&pem);
                let _ = private_key_public_bits(&pem);
            }
        }
    }
}
