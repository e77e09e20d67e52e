//! What a KMS key's material does: generation, symmetric ciphertexts,
//! RSA encryption, signatures, MACs and key agreement — all on aws-lc-rs
//! (constant-time; the RSA decryption has no timing advisory). Pure: no
//! I/O, no clock, no async.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, RsaKeyPair};
use aws_lc_rs::{agreement, hkdf, hmac};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the key material could not be generated or read")]
    Material,
    #[error("the ciphertext is not valid for this key and encryption context")]
    Ciphertext,
    #[error("the signature, MAC or public key is not valid")]
    Invalid,
    #[error("the algorithm does not apply to this key")]
    Algorithm,
    #[error("the input is too long for this key and algorithm")]
    TooLong,
}

/// A key's spec (`KeySpec`), as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    SymmetricDefault,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccNistP256,
    EccNistP384,
    EccNistP521,
    EccSecgP256k1,
    Hmac224,
    Hmac256,
    Hmac384,
    Hmac512,
}

/// What a key is for (`KeyUsage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    EncryptDecrypt,
    SignVerify,
    GenerateVerifyMac,
    KeyAgreement,
}

impl KeyUsage {
    pub const ALL: [KeyUsage; 4] =
        [KeyUsage::EncryptDecrypt, KeyUsage::SignVerify, KeyUsage::GenerateVerifyMac, KeyUsage::KeyAgreement];

    pub fn name(self) -> &'static str {
        match self {
            KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
            KeyUsage::SignVerify => "SIGN_VERIFY",
            KeyUsage::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
            KeyUsage::KeyAgreement => "KEY_AGREEMENT",
        }
    }

    pub fn parse(name: &str) -> Option<KeyUsage> {
        KeyUsage::ALL.into_iter().find(|u| u.name() == name)
    }
}

impl KeySpec {
    pub const ALL: [KeySpec; 12] = [
        KeySpec::SymmetricDefault,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "SYMMETRIC_DEFAULT",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EccNistP256 => "ECC_NIST_P256",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
            KeySpec::EccNistP521 => "ECC_NIST_P521",
            KeySpec::EccSecgP256k1 => "ECC_SECG_P256K1",
            KeySpec::Hmac224 => "HMAC_224",
            KeySpec::Hmac256 => "HMAC_256",
            KeySpec::Hmac384 => "HMAC_384",
            KeySpec::Hmac512 => "HMAC_512",
        }
    }

    pub fn parse(name: &str) -> Option<KeySpec> {
        KeySpec::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
    }

    pub fn is_ecc(self) -> bool {
        matches!(self, KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 | KeySpec::EccSecgP256k1)
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512)
    }

    pub fn is_asymmetric(self) -> bool {
        self.is_rsa() || self.is_ecc()
    }

    /// The usages AWS allows for the spec; the first is the default.
    pub fn usages(self) -> &'static [KeyUsage] {
        match self {
            KeySpec::SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                &[KeyUsage::SignVerify, KeyUsage::KeyAgreement]
            }
            KeySpec::EccSecgP256k1 => &[KeyUsage::SignVerify],
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => &[KeyUsage::GenerateVerifyMac],
        }
    }

    /// `EncryptionAlgorithms` of a key of this spec and usage.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        match (self, usage) {
            (KeySpec::SymmetricDefault, _) => &["SYMMETRIC_DEFAULT"],
            (s, KeyUsage::EncryptDecrypt) if s.is_rsa() => &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
            _ => &[],
        }
    }

    /// `SigningAlgorithms` of a key of this spec and usage.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
            ],
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &["ECDSA_SHA_256"],
            KeySpec::EccNistP384 => &["ECDSA_SHA_384"],
            KeySpec::EccNistP521 => &["ECDSA_SHA_512"],
            _ => &[],
        }
    }

    /// `MacAlgorithms` of an HMAC key.
    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::Hmac224 => &["HMAC_SHA_224"],
            KeySpec::Hmac256 => &["HMAC_SHA_256"],
            KeySpec::Hmac384 => &["HMAC_SHA_384"],
            KeySpec::Hmac512 => &["HMAC_SHA_512"],
            _ => &[],
        }
    }

    /// The length of an HMAC key's material, in bytes (AWS: as many bits as
    /// the spec names).
    fn hmac_key_bytes(self) -> usize {
        match self {
            KeySpec::Hmac224 => 28,
            KeySpec::Hmac256 => 32,
            KeySpec::Hmac384 => 48,
            _ => 64,
        }
    }

    fn ecdsa(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
            KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
            KeySpec::EccNistP521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
            KeySpec::EccSecgP256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
            _ => None,
        }
    }

    fn ecdh(self) -> Option<&'static agreement::Algorithm> {
        match self {
            KeySpec::EccNistP256 => Some(&agreement::ECDH_P256),
            KeySpec::EccNistP384 => Some(&agreement::ECDH_P384),
            KeySpec::EccNistP521 => Some(&agreement::ECDH_P521),
            _ => None,
        }
    }

    fn rsa_size(self) -> Option<KeySize> {
        match self {
            KeySpec::Rsa2048 => Some(KeySize::Rsa2048),
            KeySpec::Rsa3072 => Some(KeySize::Rsa3072),
            KeySpec::Rsa4096 => Some(KeySize::Rsa4096),
            _ => None,
        }
    }
}

/// A key's secret material: 32 random bytes for a symmetric key, the HMAC
/// key's bytes, or an asymmetric key's PKCS#8 private key. Zeroized on drop.
#[derive(Clone)]
pub struct Material(Zeroizing<Vec<u8>>, std::sync::OnceLock<Option<Vec<u8>>>);

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Material(redacted)")
    }
}

pub fn random_bytes(len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new().fill(&mut bytes).map_err(|_| CryptoError::Material)?;
    Ok(bytes)
}

impl Material {
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Material {
        Material(bytes, std::sync::OnceLock::new())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// New material for a key of `spec`. RSA generation takes tens to
    /// hundreds of milliseconds: callers run it on the blocking pool.
    pub fn generate(spec: KeySpec) -> Result<Material, CryptoError> {
        let bytes = match spec {
            KeySpec::SymmetricDefault => random_bytes(32)?,
            s if s.is_hmac() => random_bytes(s.hmac_key_bytes())?,
            s => match (s.rsa_size(), s.ecdsa()) {
                (Some(size), _) => {
                    let pair = RsaKeyPair::generate(size).map_err(|_| CryptoError::Material)?;
                    let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| CryptoError::Material)?;
                    Zeroizing::new(der.as_ref().to_vec())
                }
                (None, Some(alg)) => {
                    let pair = EcdsaKeyPair::generate(alg).map_err(|_| CryptoError::Material)?;
                    let doc = pair.to_pkcs8v1().map_err(|_| CryptoError::Material)?;
                    Zeroizing::new(doc.as_ref().to_vec())
                }
                (None, None) => return Err(CryptoError::Material),
            },
        };
        Ok(Material::from_bytes(bytes))
    }

    /// The public key of asymmetric material, as DER SubjectPublicKeyInfo
    /// (derived once: verifying with it is then a public-key operation only).
    pub fn public_key_der(&self, spec: KeySpec) -> Result<Vec<u8>, CryptoError> {
        self.1.get_or_init(|| self.derive_public_key(spec).ok()).clone().ok_or(CryptoError::Material)
    }

    fn derive_public_key(&self, spec: KeySpec) -> Result<Vec<u8>, CryptoError> {
        if spec.is_rsa() {
            let pair = RsaKeyPair::from_pkcs8(&self.0).map_err(|_| CryptoError::Material)?;
            let der = pair.public_key().as_der().map_err(|_| CryptoError::Material)?;
            return Ok(der.as_ref().to_vec());
        }
        let alg = spec.ecdsa().ok_or(CryptoError::Algorithm)?;
        let pair = EcdsaKeyPair::from_pkcs8(alg, &self.0).map_err(|_| CryptoError::Material)?;
        let der = pair.public_key().as_der().map_err(|_| CryptoError::Material)?;
        Ok(der.as_ref().to_vec())
    }
}

/// Where a symmetric ciphertext's key is: the blob names it, so Decrypt
/// needs no KeyId and authorization finds the key from the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobKey {
    pub account: String,
    pub region: String,
    /// A UUID, or a multi-Region key's `mrk-` and 32 hex digits.
    pub key_id: String,
    /// Which of the key's material versions encrypted it (rotation keeps
    /// the old ones for decryption).
    pub version: u32,
}

/// The first byte of Rampart's symmetric ciphertext format: the key id is a
/// UUID, or a multi-Region key's 16 bytes (`mrk-` and their hex).
const BLOB_FORMAT: u8 = 0x01;
const BLOB_FORMAT_MULTI_REGION: u8 = 0x02;

/// A key id as the blob's format byte and 16 bytes.
fn key_id_bytes(key_id: &str) -> Option<(u8, [u8; 16])> {
    match key_id.strip_prefix("mrk-") {
        Some(hex) => {
            let bytes: [u8; 16] = hex::decode(hex).ok()?.try_into().ok()?;
            Some((BLOB_FORMAT_MULTI_REGION, bytes))
        }
        None => Some((BLOB_FORMAT, *uuid::Uuid::try_parse(key_id).ok()?.as_bytes())),
    }
}
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"rampart kms ciphertext v1";

/// The header of a symmetric ciphertext, which names its key and version,
/// and everything that is authenticated but not encrypted:
/// `01 | account (12) | region length (1) | region | key id (16) | version (4, BE) | salt (16) | nonce (12)`.
fn blob_header(key: &BlobKey, salt: &[u8], nonce: &[u8]) -> Option<Vec<u8>> {
    let (format, id) = key_id_bytes(&key.key_id)?;
    let mut header = Vec::with_capacity(64 + key.region.len());
    header.push(format);
    header.extend_from_slice(key.account.as_bytes());
    header.push(u8::try_from(key.region.len()).ok()?);
    header.extend_from_slice(key.region.as_bytes());
    header.extend_from_slice(&id);
    header.extend_from_slice(&key.version.to_be_bytes());
    header.extend_from_slice(salt);
    header.extend_from_slice(nonce);
    Some(header)
}

/// An encryption context as additional authenticated data: pairs sorted by
/// key, each length-prefixed, so only the exact same map decrypts (AWS's
/// exact-match, case-sensitive semantics).
fn context_aad(context: &[(String, String)]) -> Vec<u8> {
    let mut pairs: Vec<&(String, String)> = context.iter().collect();
    pairs.sort();
    let mut aad = Vec::new();
    for (k, v) in pairs {
        for part in [k, v] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

/// The per-ciphertext key: HKDF-SHA256 of the key material with the
/// ciphertext's random salt, bound to its header (so a header edited to name
/// another version or key derives another key).
fn derived_key(material: &[u8], salt: &[u8], header: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(material);
    let info = [HKDF_INFO, header];
    let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| CryptoError::Material)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Encrypts `plaintext` under symmetric material, naming `key` in the blob.
pub fn seal_symmetric(
    material: &Material,
    key: &BlobKey,
    plaintext: &[u8],
    context: &[(String, String)],
) -> Result<Vec<u8>, CryptoError> {
    seal_blob(key, plaintext, context, |salt, header, nonce, aad, plaintext| {
        let cipher = derived_key(material.bytes(), salt, header)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Material)?;
        let mut body = plaintext.to_vec();
        cipher.seal_in_place_append_tag(nonce, Aad::from(aad), &mut body).map_err(|_| CryptoError::Material)?;
        Ok(body)
    })
}

/// Encrypts `plaintext` into a blob naming `key` with a key held in a
/// cluster (a custom key store's): `encrypt(nonce, aad, plaintext)` is
/// AES-256-GCM under the cluster's key, which cannot be used to derive a
/// key per ciphertext here, so the header's salt is only authenticated.
pub fn seal_in_cluster(
    key: &BlobKey,
    plaintext: &[u8],
    context: &[(String, String)],
    encrypt: impl FnOnce(&[u8], &[u8], &[u8]) -> Result<Vec<u8>, CryptoError>,
) -> Result<Vec<u8>, CryptoError> {
    seal_blob(key, plaintext, context, |_salt, _header, nonce, aad, plaintext| encrypt(nonce, aad, plaintext))
}

/// The blob around a body: a header with a fresh salt and nonce, the body
/// sealed with the header and the context as additional data.
fn seal_blob(
    key: &BlobKey,
    plaintext: &[u8],
    context: &[(String, String)],
    seal: impl FnOnce(&[u8], &[u8], &[u8], &[u8], &[u8]) -> Result<Vec<u8>, CryptoError>,
) -> Result<Vec<u8>, CryptoError> {
    if key.account.len() != 12 {
        return Err(CryptoError::Material);
    }
    let salt = random_bytes(SALT_LEN)?;
    let nonce = random_bytes(NONCE_LEN)?;
    let header = blob_header(key, &salt, &nonce).ok_or(CryptoError::Material)?;
    let mut aad = header.clone();
    aad.extend_from_slice(&context_aad(context));
    let body = seal(&salt, &header, &nonce, &aad, plaintext)?;
    if body.len() != plaintext.len() + TAG_LEN {
        return Err(CryptoError::Material);
    }
    let mut blob = header;
    blob.extend_from_slice(&body);
    Ok(blob)
}

/// The parts of a symmetric ciphertext, without opening it.
pub struct ParsedBlob<'a> {
    pub key: BlobKey,
    header: &'a [u8],
    salt: &'a [u8],
    nonce: &'a [u8],
    body: &'a [u8],
}

/// Reads a symmetric ciphertext's header; `None` for anything that is not
/// one (an asymmetric ciphertext, garbage, a truncated blob).
pub fn parse_blob(blob: &[u8]) -> Option<ParsedBlob<'_>> {
    let (&format, rest) = blob.split_first()?;
    if format != BLOB_FORMAT && format != BLOB_FORMAT_MULTI_REGION {
        return None;
    }
    let (account, rest) = rest.split_at_checked(12)?;
    let (&region_len, rest) = rest.split_first()?;
    let (region, rest) = rest.split_at_checked(region_len as usize)?;
    let (key_id, rest) = rest.split_at_checked(16)?;
    let (version, rest) = rest.split_at_checked(4)?;
    let (salt, rest) = rest.split_at_checked(SALT_LEN)?;
    let (nonce, body) = rest.split_at_checked(NONCE_LEN)?;
    if body.len() < TAG_LEN || !account.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let header = blob.get(..blob.len() - body.len())?;
    let key = BlobKey {
        account: std::str::from_utf8(account).ok()?.to_string(),
        region: std::str::from_utf8(region).ok()?.to_string(),
        key_id: match format {
            BLOB_FORMAT => uuid::Uuid::from_slice(key_id).ok()?.to_string(),
            _ => format!("mrk-{}", hex::encode(key_id)),
        },
        version: u32::from_be_bytes(version.try_into().ok()?),
    };
    Some(ParsedBlob { key, header, salt, nonce, body })
}

/// Decrypts a parsed blob with the material of the version it names.
pub fn open_symmetric(
    material: &Material,
    blob: &ParsedBlob<'_>,
    context: &[(String, String)],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = derived_key(material.bytes(), blob.salt, blob.header)?;
    let nonce = Nonce::try_assume_unique_for_key(blob.nonce).map_err(|_| CryptoError::Ciphertext)?;
    let aad = blob_aad(blob, context);
    let mut body = Zeroizing::new(blob.body.to_vec());
    let plaintext = cipher.open_in_place(nonce, Aad::from(&aad), &mut body).map_err(|_| CryptoError::Ciphertext)?.len();
    body.truncate(plaintext);
    Ok(body)
}

/// Decrypts a blob `seal_in_cluster` made: `decrypt(nonce, aad, body)` in the cluster.
pub fn open_in_cluster(
    blob: &ParsedBlob<'_>,
    context: &[(String, String)],
    decrypt: impl FnOnce(&[u8], &[u8], &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    decrypt(blob.nonce, &blob_aad(blob, context), blob.body)
}

fn blob_aad(blob: &ParsedBlob<'_>, context: &[(String, String)]) -> Vec<u8> {
    let mut aad = blob.header.to_vec();
    aad.extend_from_slice(&context_aad(context));
    aad
}

fn oaep(algorithm: &str) -> Option<&'static OaepAlgorithm> {
    match algorithm {
        "RSAES_OAEP_SHA_1" => Some(&OAEP_SHA1_MGF1SHA1),
        "RSAES_OAEP_SHA_256" => Some(&OAEP_SHA256_MGF1SHA256),
        _ => None,
    }
}

/// The largest plaintext RSAES-OAEP takes with this key size and hash
/// (AWS's table: e.g. 190 bytes for RSA_2048 with SHA-256).
pub fn rsa_max_plaintext(spec: KeySpec, algorithm: &str) -> Option<usize> {
    let modulus = match spec {
        KeySpec::Rsa2048 => 256,
        KeySpec::Rsa3072 => 384,
        KeySpec::Rsa4096 => 512,
        _ => return None,
    };
    let hash = match algorithm {
        "RSAES_OAEP_SHA_1" => 20,
        "RSAES_OAEP_SHA_256" => 32,
        _ => return None,
    };
    Some(modulus - 2 * hash - 2)
}

/// RSAES-OAEP encryption with an RSA key's public half.
pub fn rsa_encrypt(material: &Material, algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let alg = oaep(algorithm).ok_or(CryptoError::Algorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(material.bytes()).map_err(|_| CryptoError::Material)?;
    let public = OaepPublicEncryptingKey::new(private.public_key()).map_err(|_| CryptoError::Material)?;
    if plaintext.len() > public.max_plaintext_size(alg) {
        return Err(CryptoError::TooLong);
    }
    let mut out = vec![0u8; public.ciphertext_size()];
    let len = public.encrypt(alg, plaintext, &mut out, None).map_err(|_| CryptoError::Material)?.len();
    out.truncate(len);
    Ok(out)
}

/// RSAES-OAEP encryption under a public key given as DER SubjectPublicKeyInfo
/// (GenerateDataKey's `Recipient`, an import's wrapping key).
pub fn rsa_encrypt_to(public_der: &[u8], algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let alg = oaep(algorithm).ok_or(CryptoError::Algorithm)?;
    let public = PublicEncryptingKey::from_der(public_der).map_err(|_| CryptoError::Invalid)?;
    let public = OaepPublicEncryptingKey::new(public).map_err(|_| CryptoError::Invalid)?;
    let mut out = vec![0u8; public.ciphertext_size()];
    let len = public.encrypt(alg, plaintext, &mut out, None).map_err(|_| CryptoError::TooLong)?.len();
    out.truncate(len);
    Ok(out)
}

pub fn rsa_decrypt(material: &Material, algorithm: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let alg = oaep(algorithm).ok_or(CryptoError::Algorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(material.bytes()).map_err(|_| CryptoError::Material)?;
    let private = OaepPrivateDecryptingKey::new(private).map_err(|_| CryptoError::Material)?;
    let mut out = Zeroizing::new(vec![0u8; private.min_output_size()]);
    let len = private.decrypt(alg, ciphertext, &mut out, None).map_err(|_| CryptoError::Ciphertext)?.len();
    out.truncate(len);
    Ok(out)
}

/// The key material an importer wrapped for GetParametersForImport's public
/// key: RSAES-OAEP directly, or (`RSA_AES_KEY_WRAP_*`) an AES-256 key by
/// RSAES-OAEP followed by the material wrapped with that key (AES key wrap
/// with padding, RFC 5649), as AWS specifies.
pub fn unwrap_import(wrapping: &Material, algorithm: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let oaep_of = match algorithm {
        "RSAES_OAEP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_1" => "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256" | "RSA_AES_KEY_WRAP_SHA_256" => "RSAES_OAEP_SHA_256",
        _ => return Err(CryptoError::Algorithm),
    };
    if !algorithm.starts_with("RSA_AES_KEY_WRAP") {
        return rsa_decrypt(wrapping, oaep_of, wrapped);
    }
    let private = PrivateDecryptingKey::from_pkcs8(wrapping.bytes()).map_err(|_| CryptoError::Material)?;
    let (sealed_key, sealed_material) =
        wrapped.split_at_checked(private.key_size_bytes()).ok_or(CryptoError::Ciphertext)?;
    let aes_key = rsa_decrypt(wrapping, oaep_of, sealed_key)?;
    let kek = aws_lc_rs::key_wrap::AesKek::new(&aws_lc_rs::key_wrap::AES_256, &aes_key)
        .map_err(|_| CryptoError::Ciphertext)?;
    let mut out = Zeroizing::new(vec![0u8; sealed_material.len()]);
    let len = aws_lc_rs::key_wrap::KeyWrapPadded::unwrap_with_padding(kek, sealed_material, &mut out)
        .map_err(|_| CryptoError::Ciphertext)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Whether imported bytes are material for a key of `spec`: 32 bytes for a
/// symmetric key, 16 to 64 for HMAC (AWS's bounds per spec), a PKCS#8
/// private key of the spec for an asymmetric one.
pub fn valid_import(spec: KeySpec, bytes: &[u8]) -> bool {
    match spec {
        KeySpec::SymmetricDefault => bytes.len() == 32,
        KeySpec::Hmac224 => (28..=64).contains(&bytes.len()),
        KeySpec::Hmac256 => (32..=64).contains(&bytes.len()),
        KeySpec::Hmac384 => (48..=128).contains(&bytes.len()),
        KeySpec::Hmac512 => (64..=128).contains(&bytes.len()),
        s if s.is_rsa() => RsaKeyPair::from_pkcs8(bytes)
            .is_ok_and(|k| s.rsa_size().is_some_and(|size| k.public_modulus_len() * 8 == size_bits(size))),
        s => s.ecdsa().is_some_and(|alg| EcdsaKeyPair::from_pkcs8(alg, bytes).is_ok()),
    }
}

fn size_bits(size: KeySize) -> usize {
    match size {
        KeySize::Rsa2048 => 2048,
        KeySize::Rsa3072 => 3072,
        KeySize::Rsa4096 => 4096,
        _ => 8192,
    }
}

/// A signing algorithm's digest, and for RSA its padding.
fn digest_of(algorithm: &str) -> Option<&'static digest::Algorithm> {
    match algorithm {
        "RSASSA_PKCS1_V1_5_SHA_256" | "RSASSA_PSS_SHA_256" | "ECDSA_SHA_256" => Some(&digest::SHA256),
        "RSASSA_PKCS1_V1_5_SHA_384" | "RSASSA_PSS_SHA_384" | "ECDSA_SHA_384" => Some(&digest::SHA384),
        "RSASSA_PKCS1_V1_5_SHA_512" | "RSASSA_PSS_SHA_512" | "ECDSA_SHA_512" => Some(&digest::SHA512),
        _ => None,
    }
}

/// The length of a `DIGEST` message for the algorithm.
pub fn digest_len(algorithm: &str) -> Option<usize> {
    digest_of(algorithm).map(|d| d.output_len())
}

fn rsa_padding(algorithm: &str) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match algorithm {
        "RSASSA_PKCS1_V1_5_SHA_256" => &signature::RSA_PKCS1_SHA256,
        "RSASSA_PKCS1_V1_5_SHA_384" => &signature::RSA_PKCS1_SHA384,
        "RSASSA_PKCS1_V1_5_SHA_512" => &signature::RSA_PKCS1_SHA512,
        "RSASSA_PSS_SHA_256" => &signature::RSA_PSS_SHA256,
        "RSASSA_PSS_SHA_384" => &signature::RSA_PSS_SHA384,
        "RSASSA_PSS_SHA_512" => &signature::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn rsa_verification(algorithm: &str) -> Option<&'static signature::RsaParameters> {
    Some(match algorithm {
        "RSASSA_PKCS1_V1_5_SHA_256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RSASSA_PKCS1_V1_5_SHA_384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RSASSA_PKCS1_V1_5_SHA_512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "RSASSA_PSS_SHA_256" => &signature::RSA_PSS_2048_8192_SHA256,
        "RSASSA_PSS_SHA_384" => &signature::RSA_PSS_2048_8192_SHA384,
        "RSASSA_PSS_SHA_512" => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn ecdsa_verification(spec: KeySpec) -> Option<&'static signature::EcdsaVerificationAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeySpec::EccNistP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeySpec::EccNistP521 => &signature::ECDSA_P521_SHA512_ASN1,
        KeySpec::EccSecgP256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
        _ => return None,
    })
}

/// The message as signed: `RAW` is hashed here, `DIGEST` is the digest.
fn message_digest(algorithm: &str, message: &[u8], is_digest: bool) -> Result<Digest, CryptoError> {
    let alg = digest_of(algorithm).ok_or(CryptoError::Algorithm)?;
    if is_digest {
        Digest::import_less_safe(message, alg).map_err(|_| CryptoError::Invalid)
    } else {
        Ok(digest::digest(alg, message))
    }
}

/// Signs with an asymmetric key (`algorithm` one of the spec's).
pub fn sign(
    material: &Material,
    spec: KeySpec,
    algorithm: &str,
    message: &[u8],
    is_digest: bool,
) -> Result<Vec<u8>, CryptoError> {
    if !spec.signing_algorithms(KeyUsage::SignVerify).contains(&algorithm) {
        return Err(CryptoError::Algorithm);
    }
    let digest = message_digest(algorithm, message, is_digest)?;
    if spec.is_rsa() {
        let pair = RsaKeyPair::from_pkcs8(material.bytes()).map_err(|_| CryptoError::Material)?;
        let padding = rsa_padding(algorithm).ok_or(CryptoError::Algorithm)?;
        let mut out = vec![0u8; pair.public_modulus_len()];
        pair.sign_digest(padding, &digest, &mut out).map_err(|_| CryptoError::Material)?;
        return Ok(out);
    }
    let alg = spec.ecdsa().ok_or(CryptoError::Algorithm)?;
    let pair = EcdsaKeyPair::from_pkcs8(alg, material.bytes()).map_err(|_| CryptoError::Material)?;
    let sig = pair.sign_digest(&digest).map_err(|_| CryptoError::Material)?;
    Ok(sig.as_ref().to_vec())
}

/// Verifies a signature made by `sign` (or by anyone with the public key).
pub fn verify(
    material: &Material,
    spec: KeySpec,
    algorithm: &str,
    message: &[u8],
    is_digest: bool,
    sig: &[u8],
) -> Result<bool, CryptoError> {
    if !spec.signing_algorithms(KeyUsage::SignVerify).contains(&algorithm) {
        return Err(CryptoError::Algorithm);
    }
    let digest = message_digest(algorithm, message, is_digest)?;
    let public = material.public_key_der(spec)?;
    let result = if spec.is_rsa() {
        let params = rsa_verification(algorithm).ok_or(CryptoError::Algorithm)?;
        let key = signature::ParsedPublicKey::new(params, &public).map_err(|_| CryptoError::Material)?;
        key.verify_digest_sig(&digest, sig)
    } else {
        let alg = ecdsa_verification(spec).ok_or(CryptoError::Algorithm)?;
        let key = signature::ParsedPublicKey::new(alg, &public).map_err(|_| CryptoError::Material)?;
        key.verify_digest_sig(&digest, sig)
    };
    Ok(result.is_ok())
}

fn hmac_algorithm(spec: KeySpec, algorithm: &str) -> Result<hmac::Algorithm, CryptoError> {
    match (spec, algorithm) {
        (KeySpec::Hmac224, "HMAC_SHA_224") => Ok(hmac::HMAC_SHA224),
        (KeySpec::Hmac256, "HMAC_SHA_256") => Ok(hmac::HMAC_SHA256),
        (KeySpec::Hmac384, "HMAC_SHA_384") => Ok(hmac::HMAC_SHA384),
        (KeySpec::Hmac512, "HMAC_SHA_512") => Ok(hmac::HMAC_SHA512),
        _ => Err(CryptoError::Algorithm),
    }
}

pub fn mac(material: &Material, spec: KeySpec, algorithm: &str, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = hmac::Key::new(hmac_algorithm(spec, algorithm)?, material.bytes());
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

/// Compares in constant time (aws-lc-rs's HMAC verification).
pub fn verify_mac(
    material: &Material,
    spec: KeySpec,
    algorithm: &str,
    message: &[u8],
    tag: &[u8],
) -> Result<bool, CryptoError> {
    let key = hmac::Key::new(hmac_algorithm(spec, algorithm)?, material.bytes());
    Ok(hmac::verify(&key, message, tag).is_ok())
}

/// ECDH between a KEY_AGREEMENT key and a peer's public key (DER
/// SubjectPublicKeyInfo on the same curve): the raw shared secret.
pub fn derive_shared_secret(
    material: &Material,
    spec: KeySpec,
    peer_public_der: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let alg = spec.ecdh().ok_or(CryptoError::Algorithm)?;
    let private =
        agreement::PrivateKey::from_private_key_der(alg, material.bytes()).map_err(|_| CryptoError::Material)?;
    let peer = agreement::UnparsedPublicKey::new(alg, peer_public_der);
    agreement::agree(&private, peer, CryptoError::Invalid, |secret| Ok(Zeroizing::new(secret.to_vec())))
}

/// A new data key pair (GenerateDataKeyPair): its PKCS#8 private key and
/// DER public key.
pub fn data_key_pair(spec: KeySpec) -> Result<(Material, Vec<u8>), CryptoError> {
    if !spec.is_asymmetric() {
        return Err(CryptoError::Algorithm);
    }
    let material = Material::generate(spec)?;
    let public = material.public_key_der(spec)?;
    Ok((material, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BlobKey {
        BlobKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            key_id: uuid::Uuid::new_v4().to_string(),
            version: 3,
        }
    }

    fn context(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn symmetric_ciphertexts_name_their_key_and_need_the_exact_context() {
        let material = Material::generate(KeySpec::SymmetricDefault).expect("material");
        let ctx = context(&[("purpose", "test"), ("Dept", "IT")]);
        let blob = seal_symmetric(&material, &key(), b"secret", &ctx).expect("sealed");
        let parsed = parse_blob(&blob).expect("parsed");
        assert_eq!(parsed.key.version, 3);
        assert_eq!(parsed.key.account, "111122223333");
        // Order does not matter; every pair must match exactly.
        let reordered = context(&[("Dept", "IT"), ("purpose", "test")]);
        assert_eq!(&open_symmetric(&material, &parsed, &reordered).expect("opens")[..], b"secret");
        for wrong in [
            context(&[]),
            context(&[("purpose", "test")]),
            context(&[("purpose", "Test"), ("Dept", "IT")]),
            context(&[("purpose", "test"), ("Dept", "IT"), ("x", "y")]),
            context(&[("purposeDept", "testIT")]),
        ] {
            assert_eq!(open_symmetric(&material, &parsed, &wrong).err(), Some(CryptoError::Ciphertext), "{wrong:?}");
        }
        let other = Material::generate(KeySpec::SymmetricDefault).expect("material");
        assert!(open_symmetric(&other, &parsed, &ctx).is_err());
    }

    #[test]
    fn every_changed_byte_of_a_ciphertext_is_refused() {
        let material = Material::generate(KeySpec::SymmetricDefault).expect("material");
        let blob = seal_symmetric(&material, &key(), b"attack at dawn", &[]).expect("sealed");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            if let Some(b) = bad.get_mut(i) {
                *b ^= 0x01;
            }
            let opened = parse_blob(&bad).map(|p| open_symmetric(&material, &p, &[]));
            assert!(!matches!(opened, Some(Ok(_))), "byte {i}");
        }
        for len in 0..blob.len() {
            let opened = blob.get(..len).and_then(parse_blob).map(|p| open_symmetric(&material, &p, &[]));
            assert!(!matches!(opened, Some(Ok(_))), "truncated to {len}");
        }
    }

    #[test]
    fn two_encryptions_of_one_plaintext_differ() {
        let material = Material::generate(KeySpec::SymmetricDefault).expect("material");
        let a = seal_symmetric(&material, &key(), b"same", &[]).expect("a");
        let b = seal_symmetric(&material, &key(), b"same", &[]).expect("b");
        assert_ne!(a, b);
    }

    #[test]
    fn oaep_limits_are_aws_table() {
        assert_eq!(rsa_max_plaintext(KeySpec::Rsa2048, "RSAES_OAEP_SHA_1"), Some(214));
        assert_eq!(rsa_max_plaintext(KeySpec::Rsa2048, "RSAES_OAEP_SHA_256"), Some(190));
        assert_eq!(rsa_max_plaintext(KeySpec::Rsa3072, "RSAES_OAEP_SHA_1"), Some(342));
        assert_eq!(rsa_max_plaintext(KeySpec::Rsa3072, "RSAES_OAEP_SHA_256"), Some(318));
        assert_eq!(rsa_max_plaintext(KeySpec::Rsa4096, "RSAES_OAEP_SHA_1"), Some(470));
        assert_eq!(rsa_max_plaintext(KeySpec::Rsa4096, "RSAES_OAEP_SHA_256"), Some(446));
    }

    #[test]
    fn rsa_encrypts_and_signs_round_trip() {
        let material = Material::generate(KeySpec::Rsa2048).expect("rsa");
        let ct = rsa_encrypt(&material, "RSAES_OAEP_SHA_256", &[7u8; 190]).expect("encrypt");
        assert_eq!(&rsa_decrypt(&material, "RSAES_OAEP_SHA_256", &ct).expect("decrypt")[..], &[7u8; 190]);
        assert!(rsa_decrypt(&material, "RSAES_OAEP_SHA_1", &ct).is_err());
        assert_eq!(rsa_encrypt(&material, "RSAES_OAEP_SHA_256", &[7u8; 191]).err(), Some(CryptoError::TooLong));
        for alg in KeySpec::Rsa2048.signing_algorithms(KeyUsage::SignVerify) {
            let sig = sign(&material, KeySpec::Rsa2048, alg, b"message", false).expect("sign");
            assert!(verify(&material, KeySpec::Rsa2048, alg, b"message", false, &sig).expect("verify"), "{alg}");
            assert!(!verify(&material, KeySpec::Rsa2048, alg, b"massage", false, &sig).expect("verify"), "{alg}");
            let digest = digest::digest(digest_of(alg).expect("digest"), b"message");
            assert!(verify(&material, KeySpec::Rsa2048, alg, digest.as_ref(), true, &sig).expect("verify"), "{alg}");
        }
    }

    #[test]
    fn ecdsa_signs_raw_and_digest_messages_on_every_curve() {
        for spec in [KeySpec::EccNistP256, KeySpec::EccNistP384, KeySpec::EccNistP521, KeySpec::EccSecgP256k1] {
            let material = Material::generate(spec).expect("ecc");
            let alg = spec.signing_algorithms(KeyUsage::SignVerify).first().copied().expect("alg");
            let digest = digest::digest(digest_of(alg).expect("digest"), b"hello");
            let sig = sign(&material, spec, alg, digest.as_ref(), true).expect("sign");
            assert!(verify(&material, spec, alg, b"hello", false, &sig).expect("verify"), "{spec:?}");
            assert!(!verify(&material, spec, alg, b"hellO", false, &sig).expect("verify"), "{spec:?}");
            assert!(sign(&material, spec, alg, b"short", true).is_err(), "a digest of the wrong length");
            assert!(!material.public_key_der(spec).expect("spki").is_empty());
        }
    }

    #[test]
    fn ecdh_agrees_with_the_peer() {
        let ours = Material::generate(KeySpec::EccNistP256).expect("ours");
        let theirs = Material::generate(KeySpec::EccNistP256).expect("theirs");
        let a = derive_shared_secret(
            &ours,
            KeySpec::EccNistP256,
            &theirs.public_key_der(KeySpec::EccNistP256).expect("pub"),
        )
        .expect("a");
        let b = derive_shared_secret(
            &theirs,
            KeySpec::EccNistP256,
            &ours.public_key_der(KeySpec::EccNistP256).expect("pub"),
        )
        .expect("b");
        assert_eq!(&a[..], &b[..]);
        assert_eq!(a.len(), 32);
        let p384 = Material::generate(KeySpec::EccNistP384).expect("p384");
        assert!(derive_shared_secret(
            &ours,
            KeySpec::EccNistP256,
            &p384.public_key_der(KeySpec::EccNistP384).expect("pub")
        )
        .is_err());
    }

    /// RFC 4231 test case 2 ("what do ya want for nothing?").
    #[test]
    fn hmac_matches_rfc_4231() {
        let material = Material::from_bytes(Zeroizing::new(b"Jefe".to_vec()));
        let tag = mac(&material, KeySpec::Hmac256, "HMAC_SHA_256", b"what do ya want for nothing?").expect("mac");
        assert_eq!(hex::encode(&tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let tag224 = mac(&material, KeySpec::Hmac224, "HMAC_SHA_224", b"what do ya want for nothing?").expect("mac");
        assert_eq!(hex::encode(&tag224), "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44");
        assert!(
            verify_mac(&material, KeySpec::Hmac256, "HMAC_SHA_256", b"what do ya want for nothing?", &tag).expect("v")
        );
        assert!(
            !verify_mac(&material, KeySpec::Hmac256, "HMAC_SHA_256", b"what do ya want for nothing!", &tag).expect("v")
        );
        assert_eq!(mac(&material, KeySpec::Hmac256, "HMAC_SHA_512", b"x").err(), Some(CryptoError::Algorithm));
    }
}
