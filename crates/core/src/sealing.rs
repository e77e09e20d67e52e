//! The node key: an AES-256-GCM key in `DATA/node.key` (mode 0600) that wraps
//! every secret the store holds. A PKCS#11 HSM will be able to hold it instead.

use std::fs;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroizing;

const FORMAT: &str = "v1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read or write the node key: {0}")]
    Io(#[from] std::io::Error),
    #[error("the node key file is not 32 bytes")]
    BadKeyFile,
    #[error("sealed data is malformed or was not sealed by this node's key")]
    Unseal,
}

pub struct NodeKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKey(**redacted**)")
    }
}

impl NodeKey {
    /// Reads `path`, or creates it with a fresh random key (mode 0600).
    pub fn load_or_create(path: &Path) -> Result<NodeKey, SealError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new(vec![0u8; 32]);
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private(path, &key)?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        NodeKey::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<NodeKey, SealError> {
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| SealError::BadKeyFile)?;
        Ok(NodeKey { cipher })
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the access key id), as
    /// `v1:<nonce>:<ciphertext>` in base64.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload { msg: plaintext, aad: context.as_bytes() };
        // Encryption only fails for inputs beyond 64 GiB.
        let ciphertext = self.cipher.encrypt(Nonce::from_slice(&nonce), payload).unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("{FORMAT}:{}:{}", b64.encode(nonce), b64.encode(ciphertext))
    }

    /// Encrypts `plaintext` bound to `context` as one base64 string (nonce and
    /// ciphertext): the shape of a bearer token, such as an STS session token.
    pub fn seal_token(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload { msg: plaintext, aad: context.as_bytes() };
        let ciphertext = self.cipher.encrypt(Nonce::from_slice(&nonce), payload).unwrap_or_default();
        let mut token = nonce.to_vec();
        token.extend_from_slice(&ciphertext);
        base64::engine::general_purpose::STANDARD.encode(token)
    }

    pub fn open_token(&self, token: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| SealError::Unseal)?;
        let (Some(nonce), Some(ciphertext)) = (bytes.get(..12), bytes.get(12..)) else {
            return Err(SealError::Unseal);
        };
        let payload = Payload { msg: ciphertext, aad: context.as_bytes() };
        self.cipher.decrypt(Nonce::from_slice(nonce), payload).map(Zeroizing::new).map_err(|_| SealError::Unseal)
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut parts = sealed.split(':');
        let (Some(FORMAT), Some(nonce), Some(ciphertext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Unseal);
        };
        let nonce = b64.decode(nonce).map_err(|_| SealError::Unseal)?;
        let ciphertext = b64.decode(ciphertext).map_err(|_| SealError::Unseal)?;
        if nonce.len() != 12 {
            return Err(SealError::Unseal);
        }
        let payload = Payload { msg: &ciphertext, aad: context.as_bytes() };
        self.cipher.decrypt(Nonce::from_slice(&nonce), payload).map(Zeroizing::new).map_err(|_| SealError::Unseal)
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), std::io::Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seals_bound_to_context_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = NodeKey::load_or_create(&path).unwrap();
        let sealed = key.seal(b"secret", "AKIA1");
        assert!(!sealed.contains("secret"));
        assert_eq!(&*key.open(&sealed, "AKIA1").unwrap(), b"secret");
        assert!(key.open(&sealed, "AKIA2").is_err());
        let again = NodeKey::load_or_create(&path).unwrap();
        assert_eq!(&*again.open(&sealed, "AKIA1").unwrap(), b"secret");
        let other = NodeKey::from_bytes(&[7u8; 32]).unwrap();
        assert!(other.open(&sealed, "AKIA1").is_err());
        assert!(key.open("v1:bad", "AKIA1").is_err());
        let token = key.seal_token(b"session", "sts");
        assert_eq!(&*key.open_token(&token, "sts").unwrap(), b"session");
        assert!(key.open_token(&token, "other").is_err());
        assert!(key.open_token("AAAA", "sts").is_err());
        assert!(key.open_token("not base64!", "sts").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
