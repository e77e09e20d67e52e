//! Key wrapping: every secret the store holds (secret access keys, and next
//! key material, TOTP seeds, trail signing keys) and every bearer token the
//! node issues (STS session tokens) is sealed through one [`KeyWrapper`].
//!
//! A `KeyWrapper` is what a root of trust provides: authenticated encryption
//! under a key it names by id and never hands out. [`FileKeys`] is the first
//! one (keys in the data directory, mode 0600); `rampart_hsm::HsmKeys` keeps
//! the key inside a PKCS#11 token.
//! [`Sealer`] writes the sealed formats over any wrapper: each blob names the
//! key that sealed it, so after a rotation old blobs still open with their key
//! while new ones are sealed with the current one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("cannot read or write a wrapping key: {0}")]
    Io(#[from] std::io::Error),
    #[error("the wrapping key file {0} is not 32 bytes")]
    BadKeyFile(PathBuf),
    #[error("no wrapping key has the id '{0}'")]
    UnknownKey(String),
    #[error("the wrapping key could not encrypt")]
    Encrypt,
    #[error("sealed data is malformed or was not sealed by this node's keys")]
    Unseal,
}

/// Authenticated encryption under keys the wrapper holds and names by id.
/// The data is bound to `context` (authenticated, not encrypted), so a blob
/// sealed for one access key cannot be opened as another's.
pub trait KeyWrapper: Send + Sync {
    /// The id of the key that seals new data.
    fn current_key_id(&self) -> &str;
    /// Encrypts under the key `key_id`; the result carries its own nonce.
    fn encrypt(&self, key_id: &str, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, WrapError>;
    /// Decrypts what `encrypt` returned under the same key and context.
    fn decrypt(&self, key_id: &str, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError>;
}

/// The id of the key in `DATA/node.key`, which sealed everything before keys
/// had ids (blobs `v1:…` and tokens without a key id).
pub const NODE_KEY_ID: &str = "node";

/// AES-256-GCM keys in files: `DATA/node.key` (id `node`) and
/// `DATA/wrapping-keys/<id>.key`; `DATA/wrapping-keys/current` names the key
/// that seals new data (`node` when absent).
pub struct FileKeys {
    keys: Vec<(String, LessSafeKey)>,
    current: String,
    random: SystemRandom,
}

impl std::fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("FileKeys").field("ids", &ids).field("current", &self.current).finish()
    }
}

fn aes_key(bytes: &[u8], path: &Path) -> Result<LessSafeKey, WrapError> {
    UnboundKey::new(&AES_256_GCM, bytes).map(LessSafeKey::new).map_err(|_| WrapError::BadKeyFile(path.to_path_buf()))
}

fn random_key(random: &SystemRandom) -> Result<Zeroizing<Vec<u8>>, WrapError> {
    let mut key = Zeroizing::new(vec![0u8; 32]);
    random.fill(&mut key).map_err(|_| WrapError::Encrypt)?;
    Ok(key)
}

impl FileKeys {
    /// Reads the keys of `data_dir`, creating `node.key` with a fresh random
    /// key when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<FileKeys, WrapError> {
        let random = SystemRandom::new();
        let node_path = data_dir.join("node.key");
        let node = match fs::read(&node_path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key(&random)?;
                write_private(&node_path, &key)?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        let mut keys = vec![(NODE_KEY_ID.to_string(), aes_key(&node, &node_path)?)];
        let dir = data_dir.join("wrapping-keys");
        let mut current = NODE_KEY_ID.to_string();
        if dir.is_dir() {
            for entry in fs::read_dir(&dir)? {
                let path = entry?.path();
                let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".key")) else {
                    continue;
                };
                let bytes = Zeroizing::new(fs::read(&path)?);
                keys.push((id.to_string(), aes_key(&bytes, &path)?));
            }
            match fs::read_to_string(dir.join("current")) {
                Ok(id) => current = id.trim().to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !keys.iter().any(|(id, _)| *id == current) {
            return Err(WrapError::UnknownKey(current));
        }
        Ok(FileKeys { keys, current, random })
    }

    /// One key, for tests and tools.
    pub fn from_bytes(bytes: &[u8]) -> Result<FileKeys, WrapError> {
        let key = aes_key(bytes, Path::new("(bytes)"))?;
        Ok(FileKeys {
            keys: vec![(NODE_KEY_ID.to_string(), key)],
            current: NODE_KEY_ID.to_string(),
            random: SystemRandom::new(),
        })
    }

    /// Keys by id, the first of which seals new data: the data directory's
    /// keys after an HSM opened them (`rampart_hsm`), which only unseal.
    pub fn from_keys(keys: Vec<(String, Zeroizing<Vec<u8>>)>) -> Result<FileKeys, WrapError> {
        let current = keys.first().map(|(id, _)| id.clone()).ok_or_else(|| WrapError::UnknownKey(String::new()))?;
        let keys = keys
            .into_iter()
            .map(|(id, bytes)| Ok((id, aes_key(&bytes, Path::new("(sealed key file)"))?)))
            .collect::<Result<Vec<_>, WrapError>>()?;
        Ok(FileKeys { keys, current, random: SystemRandom::new() })
    }

    /// Creates a new key in `data_dir` and makes it the one that seals new
    /// data (from the next start); every older key stays, so what it sealed
    /// still opens. Returns the new key's id.
    pub fn rotate(data_dir: &Path) -> Result<String, WrapError> {
        let existing = FileKeys::load_or_create(data_dir)?;
        let dir = data_dir.join("wrapping-keys");
        fs::create_dir_all(&dir)?;
        let mut suffix = [0u8; 6];
        existing.random.fill(&mut suffix).map_err(|_| WrapError::Encrypt)?;
        let id = format!("file-{}", hex_lower(&suffix));
        write_private(&dir.join(format!("{id}.key")), &random_key(&existing.random)?)?;
        write_private(&dir.join("current"), id.as_bytes())?;
        Ok(id)
    }

    fn key(&self, key_id: &str) -> Result<&LessSafeKey, WrapError> {
        self.keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, k)| k)
            .ok_or_else(|| WrapError::UnknownKey(key_id.into()))
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KeyWrapper for FileKeys {
    fn current_key_id(&self) -> &str {
        &self.current
    }

    fn encrypt(&self, key_id: &str, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, WrapError> {
        let key = self.key(key_id)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| WrapError::Encrypt)?;
        let mut out = nonce.to_vec();
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut in_out)
            .map_err(|_| WrapError::Encrypt)?;
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    fn decrypt(&self, key_id: &str, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        let key = self.key(key_id)?;
        let (Some(nonce), Some(ciphertext)) = (sealed.get(..NONCE_LEN), sealed.get(NONCE_LEN..)) else {
            return Err(WrapError::Unseal);
        };
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| WrapError::Unseal)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plaintext = key.open_in_place(nonce, Aad::from(context), &mut in_out).map_err(|_| WrapError::Unseal)?;
        Ok(Zeroizing::new(plaintext.to_vec()))
    }
}

/// The sealed formats, over any [`KeyWrapper`]:
/// - stored blobs: `v2:<key id>:<base64 of nonce, ciphertext and tag>`
///   (`v1:<nonce>:<ciphertext>`, sealed by `node.key`, still opens);
/// - bearer tokens, one base64 string: `R2`, the key id's length (one byte),
///   the key id, then nonce, ciphertext and tag (a token without that prefix
///   was sealed by `node.key`).
#[derive(Clone)]
pub struct Sealer {
    wrapper: Arc<dyn KeyWrapper>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("current_key_id", &self.wrapper.current_key_id()).finish()
    }
}

const TOKEN_MAGIC: &[u8] = b"R2";

impl Sealer {
    pub fn new(wrapper: Arc<dyn KeyWrapper>) -> Sealer {
        Sealer { wrapper }
    }

    /// Seals `plaintext`, bound to `context` (e.g. the access key id), for the store.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, WrapError> {
        let key_id = self.wrapper.current_key_id();
        let sealed = self.wrapper.encrypt(key_id, plaintext, context.as_bytes())?;
        Ok(format!("v2:{key_id}:{}", base64::engine::general_purpose::STANDARD.encode(sealed)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut parts = sealed.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("v2"), Some(key_id), Some(data), None) => {
                let data = b64.decode(data).map_err(|_| WrapError::Unseal)?;
                self.wrapper.decrypt(key_id, &data, context.as_bytes())
            }
            (Some("v1"), Some(nonce), Some(ciphertext), None) => {
                let mut data = b64.decode(nonce).map_err(|_| WrapError::Unseal)?;
                if data.len() != NONCE_LEN {
                    return Err(WrapError::Unseal);
                }
                data.extend(b64.decode(ciphertext).map_err(|_| WrapError::Unseal)?);
                self.wrapper.decrypt(NODE_KEY_ID, &data, context.as_bytes())
            }
            _ => Err(WrapError::Unseal),
        }
    }

    /// `sealed` sealed again by the current key, with the same context;
    /// `None` when the current key sealed it.
    pub fn reseal(&self, sealed: &str, context: &str) -> Result<Option<String>, WrapError> {
        let current = self.wrapper.current_key_id();
        let key_id = sealed.strip_prefix("v2:").and_then(|rest| rest.split_once(':')).map(|(id, _)| id);
        if key_id == Some(current) {
            return Ok(None);
        }
        let plaintext = self.open(sealed, context)?;
        self.seal(&plaintext, context).map(Some)
    }

    /// Reseals the string member `field` of a stored JSON object in place
    /// (`reseal`); whether it changed.
    pub fn reseal_member(&self, value: &mut serde_json::Value, field: &str, context: &str) -> Result<bool, WrapError> {
        let Some(member) = value.get_mut(field) else { return Ok(false) };
        let Some(sealed) = member.as_str() else { return Ok(false) };
        match self.reseal(sealed, context)? {
            Some(resealed) => {
                *member = serde_json::Value::String(resealed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Seals `plaintext` bound to `context` as one base64 string: the shape
    /// of a bearer token, such as an STS session token.
    pub fn seal_token(&self, plaintext: &[u8], context: &str) -> Result<String, WrapError> {
        let key_id = self.wrapper.current_key_id();
        let id_len = u8::try_from(key_id.len()).map_err(|_| WrapError::Encrypt)?;
        let mut token = TOKEN_MAGIC.to_vec();
        token.push(id_len);
        token.extend_from_slice(key_id.as_bytes());
        token.extend(self.wrapper.encrypt(key_id, plaintext, context.as_bytes())?);
        Ok(base64::engine::general_purpose::STANDARD.encode(token))
    }

    pub fn open_token(&self, token: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| WrapError::Unseal)?;
        if let Some(rest) = bytes.strip_prefix(TOKEN_MAGIC) {
            if let Some((&id_len, rest)) = rest.split_first() {
                let id_len = usize::from(id_len);
                let key_id = rest.get(..id_len).and_then(|id| std::str::from_utf8(id).ok());
                if let (Some(key_id), Some(sealed)) = (key_id, rest.get(id_len..)) {
                    if let Ok(plaintext) = self.wrapper.decrypt(key_id, sealed, context.as_bytes()) {
                        return Ok(plaintext);
                    }
                }
            }
        }
        // A token sealed before tokens named their key (its random nonce may
        // even begin with the prefix): `node.key` opens it or nothing does.
        self.wrapper.decrypt(NODE_KEY_ID, &bytes, context.as_bytes())
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

    fn sealer(dir: &Path) -> Sealer {
        Sealer::new(Arc::new(FileKeys::load_or_create(dir).unwrap()))
    }

    #[test]
    fn seals_bound_to_context_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = sealer(dir.path());
        let sealed = key.seal(b"secret", "AKIA1").unwrap();
        assert!(!sealed.contains("secret"));
        assert!(sealed.starts_with("v2:node:"), "{sealed}");
        assert_eq!(&*key.open(&sealed, "AKIA1").unwrap(), b"secret");
        assert!(key.open(&sealed, "AKIA2").is_err());
        let again = sealer(dir.path());
        assert_eq!(&*again.open(&sealed, "AKIA1").unwrap(), b"secret");
        let other = Sealer::new(Arc::new(FileKeys::from_bytes(&[7u8; 32]).unwrap()));
        assert!(other.open(&sealed, "AKIA1").is_err());
        assert!(key.open("v1:bad", "AKIA1").is_err());
        assert!(key.open("v2:nosuchkey:AAAA", "AKIA1").is_err());
        let token = key.seal_token(b"session", "sts").unwrap();
        assert_eq!(&*key.open_token(&token, "sts").unwrap(), b"session");
        assert!(key.open_token(&token, "other").is_err());
        assert!(key.open_token("AAAA", "sts").is_err());
        assert!(key.open_token("not base64!", "sts").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("node.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// The formats the node wrote before keys had ids (aes-gcm's AES-256-GCM:
    /// 12-byte nonce, ciphertext, 16-byte tag), sealed here by hand with aws-lc-rs.
    #[test]
    fn opens_what_node_key_sealed_before_key_ids() {
        let keys = FileKeys::from_bytes(&[3u8; 32]).unwrap();
        let raw = keys.encrypt(NODE_KEY_ID, b"old secret", b"AKIA1").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let v1 = format!("v1:{}:{}", b64.encode(nonce), b64.encode(ciphertext));
        let sealer = Sealer::new(Arc::new(keys));
        assert_eq!(&*sealer.open(&v1, "AKIA1").unwrap(), b"old secret");
        let old_token = b64.encode(&raw);
        assert_eq!(&*sealer.open_token(&old_token, "AKIA1").unwrap(), b"old secret");
    }

    #[test]
    fn rotation_seals_with_the_new_key_and_still_opens_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let before = sealer(dir.path());
        let old_blob = before.seal(b"one", "c").unwrap();
        let old_token = before.seal_token(b"two", "t").unwrap();
        let id = FileKeys::rotate(dir.path()).unwrap();
        assert!(id.starts_with("file-") && id.len() == 17, "{id}");
        let after = sealer(dir.path());
        let new_blob = after.seal(b"three", "c").unwrap();
        assert!(new_blob.starts_with(&format!("v2:{id}:")), "{new_blob}");
        assert_eq!(&*after.open(&old_blob, "c").unwrap(), b"one");
        assert_eq!(&*after.open_token(&old_token, "t").unwrap(), b"two");
        assert_eq!(&*after.open(&new_blob, "c").unwrap(), b"three");
        let new_token = after.seal_token(b"four", "t").unwrap();
        assert_eq!(&*after.open_token(&new_token, "t").unwrap(), b"four");
        // The node key alone cannot open what the new key sealed.
        fs::remove_dir_all(dir.path().join("wrapping-keys")).unwrap();
        let node_only = sealer(dir.path());
        assert!(node_only.open(&new_blob, "c").is_err());
        assert!(node_only.open_token(&new_token, "t").is_err());
        assert_eq!(&*node_only.open(&old_blob, "c").unwrap(), b"one");
    }

    #[test]
    fn reseal_moves_a_blob_to_the_current_key_with_its_context() {
        let dir = tempfile::tempdir().unwrap();
        let old_blob = sealer(dir.path()).seal(b"secret", "ctx").unwrap();
        let legacy_v1 = {
            // The pre-key-id format, as `node.key` wrote it.
            let v2 = old_blob.strip_prefix("v2:node:").unwrap();
            let raw = base64::engine::general_purpose::STANDARD.decode(v2).unwrap();
            let (nonce, body) = raw.split_at(NONCE_LEN);
            let b64 = base64::engine::general_purpose::STANDARD;
            format!("v1:{}:{}", b64.encode(nonce), b64.encode(body))
        };
        let id = FileKeys::rotate(dir.path()).unwrap();
        let after = sealer(dir.path());
        for blob in [&old_blob, &legacy_v1] {
            let resealed = after.reseal(blob, "ctx").unwrap().unwrap();
            assert!(resealed.starts_with(&format!("v2:{id}:")), "{resealed}");
            assert_eq!(&*after.open(&resealed, "ctx").unwrap(), b"secret");
            assert!(after.reseal(&resealed, "ctx").unwrap().is_none(), "already under the current key");
            assert!(after.reseal(blob, "other context").is_err(), "the context must be the blob's");
        }
        let mut record = serde_json::json!({"sealed": old_blob, "n": 1});
        assert!(after.reseal_member(&mut record, "sealed", "ctx").unwrap());
        assert!(!after.reseal_member(&mut record, "sealed", "ctx").unwrap());
        assert!(!after.reseal_member(&mut record, "missing", "ctx").unwrap());
        assert_eq!(&*after.open(record.get("sealed").and_then(|v| v.as_str()).unwrap(), "ctx").unwrap(), b"secret");
    }

    #[test]
    fn a_missing_current_key_stops_the_load() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("wrapping-keys")).unwrap();
        fs::write(dir.path().join("wrapping-keys/current"), "file-gone").unwrap();
        assert!(matches!(FileKeys::load_or_create(dir.path()), Err(WrapError::UnknownKey(id)) if id == "file-gone"));
    }
}
