//! PKCS#11 tokens as the CloudHSM clusters of KMS's custom key stores. A
//! token's label is its cluster id (`cluster-…`); a key store logs in as
//! the token's user with the key store's password (CloudHSM's `kmsuser`),
//! and its keys are non-extractable AES keys the token generates and uses.
//! The token that holds the node's own root of trust is never a cluster.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use rampart_core::clusters::{ClusterError, ClusterSession, Clusters};

use crate::{context, HsmError, TAG_BITS};

/// Who a token is, as the token says: the same token through another
/// library path (another PKCS#11 instance) is still the same token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub label: String,
}

impl TokenIdentity {
    pub(crate) fn of(context: &Pkcs11, slot: Slot) -> Result<TokenIdentity, Pkcs11Error> {
        let info = context.get_token_info(slot)?;
        Ok(TokenIdentity {
            manufacturer: info.manufacturer_id().trim_end().to_string(),
            model: info.model().trim_end().to_string(),
            serial: info.serial_number().trim_end().to_string(),
            label: info.label().trim_end().to_string(),
        })
    }
}

/// The tokens of one PKCS#11 library, as clusters.
pub struct TokenClusters {
    context: Pkcs11,
    /// The token of the node's root of trust, which is never a cluster.
    reserved: Option<TokenIdentity>,
}

impl std::fmt::Debug for TokenClusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClusters").field("reserved", &self.reserved).finish_non_exhaustive()
    }
}

impl TokenClusters {
    /// Opens the library; `root_of_trust` is the token of the node's HSM
    /// (`HsmKeys::token_identity`), kept out of reach of every key store.
    pub fn open(module: PathBuf, root_of_trust: Option<TokenIdentity>) -> Result<TokenClusters, HsmError> {
        let context = context(&module).map_err(|source| HsmError::Module { module: module.clone(), source })?;
        Ok(TokenClusters { context, reserved: root_of_trust })
    }

    /// The slot of the one token labelled `cluster_id`.
    fn slot(&self, cluster_id: &str) -> Result<Slot, ClusterError> {
        let slots = self.context.get_slots_with_initialized_token().map_err(failed)?;
        let mut found = Vec::new();
        for slot in slots {
            let identity = TokenIdentity::of(&self.context, slot).map_err(failed)?;
            if identity.label == cluster_id {
                found.push((slot, identity));
            }
        }
        match found.as_slice() {
            [] => Err(ClusterError::NotFound),
            [(_, identity)] if self.reserved.as_ref() == Some(identity) => Err(ClusterError::Reserved),
            [(slot, _)] => Ok(*slot),
            _ => Err(ClusterError::Failed(format!("{} tokens are labelled {cluster_id}", found.len()))),
        }
    }
}

fn failed(error: Pkcs11Error) -> ClusterError {
    ClusterError::Failed(error.to_string())
}

impl Clusters for TokenClusters {
    fn find(&self, cluster_id: &str) -> Result<(), ClusterError> {
        self.slot(cluster_id).map(|_| ())
    }

    fn connect(&self, cluster_id: &str, password: &str) -> Result<Arc<dyn ClusterSession>, ClusterError> {
        let slot = self.slot(cluster_id)?;
        let session = self.context.open_rw_session(slot).map_err(failed)?;
        let pin = AuthPin::new(password.to_string());
        session.login(UserType::User, Some(&pin)).map_err(|e| match e {
            Pkcs11Error::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
                ClusterError::InvalidCredentials
            }
            Pkcs11Error::Pkcs11(RvError::PinLocked, _) => ClusterError::LockedOut,
            // Another session of this process is logged in: a login with any
            // password would "succeed", so it proves nothing.
            Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _) => ClusterError::LoggedIn,
            other => failed(other),
        })?;
        Ok(Arc::new(TokenSession {
            _context: self.context.clone(),
            session: Mutex::new(Some(session)),
            handles: Mutex::new(HashMap::new()),
        }))
    }
}

/// One logged-in session with a cluster's token; closing it (`close`, or
/// on drop) logs out.
struct TokenSession {
    _context: Pkcs11,
    /// `None` once closed: calls still holding the session fail.
    session: Mutex<Option<Session>>,
    /// Key handles by label, found once.
    handles: Mutex<HashMap<String, ObjectHandle>>,
}

fn closed() -> ClusterError {
    ClusterError::Failed("the key store is disconnected".to_string())
}

fn key_template(label: &str) -> [Attribute; 3] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

impl TokenSession {
    /// The key labelled `label`, if it is one the token generated and has
    /// never let out: a key imported with a value someone knows (`C_CreateObject`)
    /// is refused, so no cluster can pass a known key off as a store's.
    fn find(&self, session: &Session, label: &str) -> Result<Option<ObjectHandle>, ClusterError> {
        if let Some(handle) = self.handles.lock().get(label) {
            return Ok(Some(*handle));
        }
        let found = session.find_objects(&key_template(label)).map_err(failed)?;
        let handle = match found.as_slice() {
            [] => return Ok(None),
            [handle] => *handle,
            many => return Err(ClusterError::Failed(format!("{} keys are labelled {label}", many.len()))),
        };
        let wanted = [AttributeType::Local, AttributeType::AlwaysSensitive, AttributeType::NeverExtractable];
        let attributes = session.get_attributes(handle, &wanted).map_err(failed)?;
        let protected = attributes.iter().filter(|a| {
            matches!(a, Attribute::Local(true) | Attribute::AlwaysSensitive(true) | Attribute::NeverExtractable(true))
        });
        if protected.count() != wanted.len() {
            return Err(ClusterError::Failed(format!(
                "the key labelled {label} was not generated in the token or has been extractable"
            )));
        }
        self.handles.lock().insert(label.to_string(), handle);
        Ok(Some(handle))
    }

    fn key(&self, session: &Session, label: &str) -> Result<ObjectHandle, ClusterError> {
        self.find(session, label)?.ok_or_else(|| ClusterError::NoKey(label.to_string()))
    }
}

impl ClusterSession for TokenSession {
    fn generate_key(&self, label: &str) -> Result<(), ClusterError> {
        let guard = self.session.lock();
        let session = guard.as_ref().ok_or_else(closed)?;
        if self.find(session, label)?.is_some() {
            return Err(ClusterError::Failed(format!("a key labelled {label} exists already")));
        }
        let mut attributes = crate::protected_aes_key(label.as_bytes());
        attributes.push(Attribute::Id(label.as_bytes().to_vec()));
        let handle = session.generate_key(&Mechanism::AesKeyGen, &attributes).map_err(failed)?;
        self.handles.lock().insert(label.to_string(), handle);
        Ok(())
    }

    fn encrypt(&self, label: &str, nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ClusterError> {
        let guard = self.session.lock();
        let session = guard.as_ref().ok_or_else(closed)?;
        let key = self.key(session, label)?;
        let mut iv = nonce.to_vec();
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(failed)?;
        session.encrypt(&Mechanism::AesGcm(params), key, plaintext).map_err(failed)
    }

    fn decrypt(
        &self,
        label: &str,
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ClusterError> {
        let guard = self.session.lock();
        let session = guard.as_ref().ok_or_else(closed)?;
        let key = self.key(session, label)?;
        let mut iv = nonce.to_vec();
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(failed)?;
        match session.decrypt(&Mechanism::AesGcm(params), key, ciphertext) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            // A tag that does not verify: CKR_ENCRYPTED_DATA_INVALID by the
            // standard, CKR_GENERAL_ERROR from SoftHSM2.
            Err(Pkcs11Error::Pkcs11(
                RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange | RvError::GeneralError,
                _,
            )) => Err(ClusterError::Ciphertext),
            Err(other) => Err(failed(other)),
        }
    }

    fn close(&self) {
        if let Some(session) = self.session.lock().take() {
            // Closing the last session logs the token out; log out now in
            // any case, so the next connection must log in again.
            let _ = session.logout();
        }
        self.handles.lock().clear();
    }

    fn destroy_key(&self, label: &str) -> Result<(), ClusterError> {
        let guard = self.session.lock();
        let session = guard.as_ref().ok_or_else(closed)?;
        let key = self.key(session, label)?;
        session.destroy_object(key).map_err(failed)?;
        self.handles.lock().remove(label);
        Ok(())
    }

    fn random(&self, len: usize) -> Result<Vec<u8>, ClusterError> {
        let len = u32::try_from(len).map_err(|_| ClusterError::Failed("too many random bytes".to_string()))?;
        self.session.lock().as_ref().ok_or_else(closed)?.generate_random_vec(len).map_err(failed)
    }
}
