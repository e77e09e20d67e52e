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
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use rampart_core::clusters::{ClusterError, ClusterSession, Clusters};

use crate::{context, HsmConfig, HsmError, TAG_BITS};

/// The tokens of one PKCS#11 library, as clusters.
pub struct TokenClusters {
    context: Pkcs11,
    /// The slot of the node's root of trust when it is in this library.
    reserved: Option<u64>,
}

impl std::fmt::Debug for TokenClusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClusters").field("reserved", &self.reserved).finish_non_exhaustive()
    }
}

impl TokenClusters {
    /// Opens the library; `root_of_trust` is the node's HSM, whose token is
    /// kept out of reach of every key store.
    pub fn open(module: PathBuf, root_of_trust: Option<&HsmConfig>) -> Result<TokenClusters, HsmError> {
        let context = context(&module).map_err(|source| HsmError::Module { module: module.clone(), source })?;
        let same_library = |hsm: &&HsmConfig| {
            let canonical = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            canonical(&hsm.module) == canonical(&module)
        };
        let reserved = root_of_trust.filter(same_library).map(|hsm| hsm.slot);
        Ok(TokenClusters { context, reserved })
    }

    /// The slot of the one token labelled `cluster_id`.
    fn slot(&self, cluster_id: &str) -> Result<Slot, ClusterError> {
        let slots = self.context.get_slots_with_initialized_token().map_err(failed)?;
        let mut found = Vec::new();
        for slot in slots {
            let info = self.context.get_token_info(slot).map_err(failed)?;
            if info.label().trim_end() == cluster_id {
                found.push(slot);
            }
        }
        match found.as_slice() {
            [] => Err(ClusterError::NotFound),
            [slot] if self.reserved == Some(slot.id()) => Err(ClusterError::Reserved),
            [slot] => Ok(*slot),
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
            session: Mutex::new(session),
            handles: Mutex::new(HashMap::new()),
        }))
    }
}

/// One logged-in session with a cluster's token; closing it (on drop) logs out.
struct TokenSession {
    _context: Pkcs11,
    session: Mutex<Session>,
    /// Key handles by label, found once.
    handles: Mutex<HashMap<String, ObjectHandle>>,
}

fn key_template(label: &str) -> [Attribute; 3] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

impl TokenSession {
    fn find(&self, session: &Session, label: &str) -> Result<Option<ObjectHandle>, ClusterError> {
        if let Some(handle) = self.handles.lock().get(label) {
            return Ok(Some(*handle));
        }
        let found = session.find_objects(&key_template(label)).map_err(failed)?;
        match found.as_slice() {
            [] => Ok(None),
            [handle] => {
                self.handles.lock().insert(label.to_string(), *handle);
                Ok(Some(*handle))
            }
            many => Err(ClusterError::Failed(format!("{} keys are labelled {label}", many.len()))),
        }
    }

    fn key(&self, session: &Session, label: &str) -> Result<ObjectHandle, ClusterError> {
        self.find(session, label)?.ok_or_else(|| ClusterError::NoKey(label.to_string()))
    }
}

impl ClusterSession for TokenSession {
    fn generate_key(&self, label: &str) -> Result<(), ClusterError> {
        let session = self.session.lock();
        if self.find(&session, label)?.is_some() {
            return Err(ClusterError::Failed(format!("a key labelled {label} exists already")));
        }
        let attributes = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(label.as_bytes().to_vec()),
        ];
        let handle = session.generate_key(&Mechanism::AesKeyGen, &attributes).map_err(failed)?;
        self.handles.lock().insert(label.to_string(), handle);
        Ok(())
    }

    fn has_key(&self, label: &str) -> Result<bool, ClusterError> {
        let session = self.session.lock();
        Ok(self.find(&session, label)?.is_some())
    }

    fn encrypt(&self, label: &str, nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ClusterError> {
        let session = self.session.lock();
        let key = self.key(&session, label)?;
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
        let session = self.session.lock();
        let key = self.key(&session, label)?;
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

    fn destroy_key(&self, label: &str) -> Result<(), ClusterError> {
        let session = self.session.lock();
        let key = self.key(&session, label)?;
        session.destroy_object(key).map_err(failed)?;
        self.handles.lock().remove(label);
        Ok(())
    }

    fn random(&self, len: usize) -> Result<Vec<u8>, ClusterError> {
        let len = u32::try_from(len).map_err(|_| ClusterError::Failed("too many random bytes".to_string()))?;
        self.session.lock().generate_random_vec(len).map_err(failed)
    }
}
