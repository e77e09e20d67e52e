//! A root of trust in any PKCS#11 token: the key wrapper's key is a
//! non-extractable, sensitive AES-256 key generated inside the token, and
//! every seal and unseal is an AES-GCM operation the token performs
//! (`C_Encrypt`/`C_Decrypt` with `CKM_AES_GCM`). Rampart never holds that key.
//!
//! Keys of the data directory from before the HSM (`node.key`, `wrapping-keys/*.key`)
//! still open what they sealed: `migrate` encrypts them under the token's
//! key (`*.key.hsm`) and deletes the plain files, so from then on nothing in
//! the data directory opens without the token; the node's first start on
//! the token seals every stored secret again by the token's key and then
//! deletes those too (`forget_legacy`).
//!
//! The library's other tokens can be the clusters of KMS's custom key
//! stores (`clusters`).

mod clusters;

pub use clusters::{TokenClusters, TokenIdentity};

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use rampart_core::wrapping::{write_private, KeyWrapper, WrapError, NODE_KEY_ID};
use rampart_core::FileKeys;

const NONCE_LEN: usize = 12;
pub(crate) const TAG_BITS: u64 = 128;
/// What an HSM-sealed legacy key file is bound to.
const LEGACY_CONTEXT: &[u8] = b"rampart legacy wrapping key";

#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    #[error("PKCS#11 module {module}: {source}")]
    Module { module: PathBuf, source: cryptoki::error::Error },
    #[error("PKCS#11 slot {slot}: {source}")]
    Slot { slot: u64, source: cryptoki::error::Error },
    #[error("the HSM refused the login (wrong PIN, or the token is locked): {0}")]
    Login(cryptoki::error::Error),
    #[error("the HSM's wrapping key '{label}': {source}")]
    Key { label: String, source: cryptoki::error::Error },
    #[error("the HSM holds {0} keys labelled '{1}': name one key")]
    Ambiguous(usize, String),
    #[error("the environment variable {0} (the HSM PIN) is not set")]
    NoPin(String),
    #[error("{0}")]
    Wrap(#[from] WrapError),
}

/// The library's one context in this process: PKCS#11 is initialized once
/// per process (a second `C_Initialize` fails), and the root of trust and
/// the key stores' clusters may be tokens of the same library.
pub(crate) fn context(module: &Path) -> Result<Pkcs11, cryptoki::error::Error> {
    static CONTEXTS: LazyLock<Mutex<HashMap<PathBuf, Pkcs11>>> = LazyLock::new(Mutex::default);
    let path = fs::canonicalize(module).unwrap_or_else(|_| module.to_path_buf());
    let mut contexts = CONTEXTS.lock();
    if let Some(context) = contexts.get(&path) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(&path)?;
    context.initialize(CInitializeArgs::OsThreads)?;
    contexts.insert(path, context.clone());
    Ok(context)
}

/// The template of an AES-256 key that lives in the token and never
/// leaves it (sensitive, not extractable), for encryption, labelled `label`.
pub(crate) fn protected_aes_key(label: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.to_vec()),
    ]
}

/// Where the token is and how to log in.
#[derive(Clone)]
pub struct HsmConfig {
    pub module: PathBuf,
    pub slot: u64,
    pub pin: Zeroizing<String>,
    /// The label of the wrapping key in the token (created when absent).
    pub key_label: String,
}

impl std::fmt::Debug for HsmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmConfig")
            .field("module", &self.module)
            .field("slot", &self.slot)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

impl HsmConfig {
    /// The PIN is read from the environment, never from the command line.
    pub fn new(module: PathBuf, slot: u64, pin_env: &str, key_label: String) -> Result<HsmConfig, HsmError> {
        let pin = std::env::var(pin_env).map_err(|_| HsmError::NoPin(pin_env.to_string()))?;
        Ok(HsmConfig { module, slot, pin: Zeroizing::new(pin), key_label })
    }
}

/// The token's AES key, used through one logged-in session.
pub struct TokenKey {
    /// Kept so the library stays loaded and initialized.
    _context: Pkcs11,
    session: Mutex<Session>,
    key: ObjectHandle,
    id: String,
    identity: TokenIdentity,
    random: SystemRandom,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl TokenKey {
    /// Opens the token, logs in and finds the wrapping key by label,
    /// generating it inside the token when there is none.
    pub fn open(config: &HsmConfig) -> Result<TokenKey, HsmError> {
        let module = |source| HsmError::Module { module: config.module.clone(), source };
        let context = context(&config.module).map_err(module)?;
        let slot_error = |source| HsmError::Slot { slot: config.slot, source };
        let slot = Slot::try_from(config.slot).map_err(slot_error)?;
        let identity = TokenIdentity::of(&context, slot).map_err(slot_error)?;
        let session = context.open_rw_session(slot).map_err(slot_error)?;
        let pin = AuthPin::new(config.pin.as_str().to_string());
        session.login(UserType::User, Some(&pin)).map_err(HsmError::Login)?;
        let key_error = |source| HsmError::Key { label: config.key_label.clone(), source };
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
        ];
        let found = session.find_objects(&template).map_err(key_error)?;
        let key = match found.as_slice() {
            [key] => *key,
            [] => {
                let attributes = protected_aes_key(config.key_label.as_bytes());
                tracing::info!(label = %config.key_label, "generating the wrapping key inside the HSM");
                session.generate_key(&Mechanism::AesKeyGen, &attributes).map_err(key_error)?
            }
            many => return Err(HsmError::Ambiguous(many.len(), config.key_label.clone())),
        };
        Ok(TokenKey {
            _context: context,
            session: Mutex::new(session),
            key,
            id: format!("hsm-{}", config.key_label),
            identity,
            random: SystemRandom::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `nonce | ciphertext | tag`, sealed by the token.
    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, WrapError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| WrapError::Encrypt)?;
        let mut iv = nonce;
        let params = GcmParams::new(&mut iv, context, TAG_BITS.into()).map_err(|_| WrapError::Encrypt)?;
        let sealed = self
            .session
            .lock()
            .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
            .map_err(|_| WrapError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unseal(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(WrapError::Unseal)?;
        let mut iv: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| WrapError::Unseal)?;
        let params = GcmParams::new(&mut iv, context, TAG_BITS.into()).map_err(|_| WrapError::Unseal)?;
        let plaintext = self
            .session
            .lock()
            .decrypt(&Mechanism::AesGcm(params), self.key, ciphertext)
            .map_err(|_| WrapError::Unseal)?;
        Ok(Zeroizing::new(plaintext))
    }
}

/// The node's key wrapper with an HSM: the token's key seals everything
/// new; the data directory's older keys, themselves sealed by the token
/// (`*.key.hsm`), open what they sealed before.
pub struct HsmKeys {
    token: TokenKey,
    /// Until the node has sealed everything again under the token's key
    /// (`forget_legacy`).
    legacy: parking_lot::RwLock<Option<FileKeys>>,
}

impl std::fmt::Debug for HsmKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmKeys").field("token", &self.token).field("legacy", &*self.legacy.read()).finish()
    }
}

/// The data directory's plain key files, and where their sealed copies go.
fn legacy_files(data_dir: &Path) -> Result<Vec<(String, PathBuf)>, std::io::Error> {
    let mut files = vec![(NODE_KEY_ID.to_string(), data_dir.join("node.key"))];
    let dir = data_dir.join("wrapping-keys");
    if dir.is_dir() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if let Some(id) = name.strip_suffix(".key").or_else(|| name.strip_suffix(".key.hsm")) {
                let plain = dir.join(format!("{id}.key"));
                if !files.iter().any(|(i, _)| i == id) {
                    files.push((id.to_string(), plain));
                }
            }
        }
    }
    Ok(files)
}

fn sealed_path(plain: &Path) -> PathBuf {
    let mut name = plain.as_os_str().to_os_string();
    name.push(".hsm");
    PathBuf::from(name)
}

impl HsmKeys {
    /// Opens the token and the data directory's legacy keys. A plain key
    /// file still there (not migrated) is refused: with an HSM, nothing in
    /// the data directory may open without it (`rampart wrapping-key
    /// migrate-to-hsm` first).
    pub fn open(config: &HsmConfig, data_dir: &Path) -> Result<HsmKeys, HsmError> {
        let token = TokenKey::open(config)?;
        let mut keys: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
        for (id, plain) in legacy_files(data_dir).map_err(WrapError::from)? {
            if plain.exists() {
                return Err(HsmError::Wrap(WrapError::Io(std::io::Error::other(format!(
                    "{} is a plain wrapping key: run `rampart wrapping-key migrate-to-hsm` before serving with an HSM",
                    plain.display()
                )))));
            }
            let sealed = sealed_path(&plain);
            match fs::read(&sealed) {
                Ok(bytes) => keys.push((id.clone(), token.unseal(&bytes, &legacy_context(&id))?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(WrapError::Io(e).into()),
            }
        }
        let legacy = match keys.is_empty() {
            true => None,
            false => Some(FileKeys::from_keys(keys)?),
        };
        mark(data_dir, &token)?;
        Ok(HsmKeys { token, legacy: parking_lot::RwLock::new(legacy) })
    }

    /// The token of the root of trust, which no custom key store may use.
    pub fn token_identity(&self) -> TokenIdentity {
        self.token.identity.clone()
    }

    /// Whether keys from before the HSM still open something.
    pub fn has_legacy(&self) -> bool {
        self.legacy.read().is_some()
    }

    /// Once everything they sealed is sealed again by the token's key: drops
    /// the older keys and deletes their sealed files, so that from now on
    /// nothing anywhere opens with a key that was once outside the token.
    pub fn forget_legacy(&self, data_dir: &Path) -> Result<(), HsmError> {
        for (_, plain) in legacy_files(data_dir).map_err(WrapError::from)? {
            match fs::remove_file(sealed_path(&plain)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(WrapError::Io(e).into()),
            }
        }
        let dir = data_dir.join("wrapping-keys");
        if dir.is_dir() && fs::read_dir(&dir).map_err(WrapError::from)?.next().is_none() {
            fs::remove_dir(&dir).map_err(WrapError::from)?;
        }
        *self.legacy.write() = None;
        Ok(())
    }

    /// Seals the data directory's plain key files under the token's key and
    /// deletes them. Returns how many it moved.
    pub fn migrate(config: &HsmConfig, data_dir: &Path) -> Result<usize, HsmError> {
        let token = TokenKey::open(config)?;
        let mut moved = 0;
        for (id, plain) in legacy_files(data_dir).map_err(WrapError::from)? {
            let bytes = match fs::read(&plain) {
                Ok(bytes) => Zeroizing::new(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(WrapError::Io(e).into()),
            };
            let sealed = token.seal(&bytes, &legacy_context(&id))?;
            // Check the copy opens before the original goes.
            if token.unseal(&sealed, &legacy_context(&id))?.as_slice() != bytes.as_slice() {
                return Err(WrapError::Unseal.into());
            }
            write_private(&sealed_path(&plain), &sealed).map_err(WrapError::from)?;
            fs::remove_file(&plain).map_err(WrapError::from)?;
            moved += 1;
        }
        mark(data_dir, &token)?;
        // Whatever a rotation named current, new data is sealed by the token now.
        let current = data_dir.join("wrapping-keys").join("current");
        if current.exists() {
            fs::remove_file(current).map_err(WrapError::from)?;
        }
        Ok(moved)
    }
}

/// The file that says a data directory's root of trust is an HSM, so that
/// the node is not started on it without one (`is_marked`).
pub const MARKER: &str = "wrapping-key.hsm";

fn mark(data_dir: &Path, token: &TokenKey) -> Result<(), HsmError> {
    fs::create_dir_all(data_dir).map_err(WrapError::from)?;
    let path = data_dir.join(MARKER);
    if !path.exists() {
        write_private(&path, format!("{}\n", token.id()).as_bytes()).map_err(WrapError::from)?;
    }
    Ok(())
}

/// Whether the data directory's secrets are sealed by an HSM.
pub fn is_marked(data_dir: &Path) -> bool {
    data_dir.join(MARKER).exists()
}

fn legacy_context(id: &str) -> Vec<u8> {
    let mut context = LEGACY_CONTEXT.to_vec();
    context.push(b':');
    context.extend_from_slice(id.as_bytes());
    context
}

impl KeyWrapper for HsmKeys {
    fn current_key_id(&self) -> &str {
        self.token.id()
    }

    fn encrypt(&self, key_id: &str, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, WrapError> {
        match (key_id == self.token.id(), &*self.legacy.read()) {
            (true, _) => self.token.seal(plaintext, context),
            (false, Some(legacy)) => legacy.encrypt(key_id, plaintext, context),
            (false, None) => Err(WrapError::UnknownKey(key_id.to_string())),
        }
    }

    fn decrypt(&self, key_id: &str, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        match (key_id == self.token.id(), &*self.legacy.read()) {
            (true, _) => self.token.unseal(sealed, context),
            (false, Some(legacy)) => legacy.decrypt(key_id, sealed, context),
            (false, None) => Err(WrapError::UnknownKey(key_id.to_string())),
        }
    }
}
