//! The hardware behind KMS's custom key stores: a cluster of HSMs that
//! holds keys the node itself never sees. In AWS a CloudHSM key store is
//! backed by a CloudHSM cluster; in Rampart by a PKCS#11 token
//! (`rampart_hsm::TokenClusters`, the token's label being the cluster id).
//!
//! KMS depends on these traits only, so the service logic is tested and
//! built without a PKCS#11 library, as with [`crate::KeyWrapper`].

use std::sync::Arc;

use zeroize::Zeroizing;

/// Why a cluster could not be used; each maps to a connection error code
/// (`ConnectionErrorCode`) or an exception of the custom key store API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("no cluster has this id")]
    NotFound,
    /// The token holds this node's own root of trust.
    #[error("the cluster holds the node's root of trust")]
    Reserved,
    #[error("the key store password does not log in to the cluster")]
    InvalidCredentials,
    #[error("the cluster's user is locked out")]
    LockedOut,
    #[error("the cluster's user is logged in already")]
    LoggedIn,
    /// Decryption failed: the ciphertext or its context is not what the key sealed.
    #[error("the ciphertext does not open under the cluster's key")]
    Ciphertext,
    #[error("the cluster holds no key labelled '{0}'")]
    NoKey(String),
    #[error("the cluster failed: {0}")]
    Failed(String),
}

/// The clusters a node can reach.
pub trait Clusters: Send + Sync {
    /// Whether a cluster of this id is there to be used.
    fn find(&self, cluster_id: &str) -> Result<(), ClusterError>;

    /// Logs in to the cluster as the key store's user.
    fn connect(&self, cluster_id: &str, password: &str) -> Result<Arc<dyn ClusterSession>, ClusterError>;
}

/// A logged-in connection to one cluster. Keys are named by label (a KMS
/// key id); their material never leaves the cluster.
pub trait ClusterSession: Send + Sync {
    /// Generates a non-extractable AES-256 key in the cluster.
    fn generate_key(&self, label: &str) -> Result<(), ClusterError>;

    /// AES-256-GCM in the cluster: `ciphertext | tag` (16 bytes).
    fn encrypt(&self, label: &str, nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ClusterError>;

    fn decrypt(
        &self,
        label: &str,
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ClusterError>;

    /// Destroys the key in the cluster (crypto-shredding).
    fn destroy_key(&self, label: &str) -> Result<(), ClusterError>;

    /// Random bytes from the cluster's generator.
    fn random(&self, len: usize) -> Result<Vec<u8>, ClusterError>;

    /// Logs out and closes the connection now (a disconnect), even while
    /// calls still hold it: they fail from then on.
    fn close(&self);
}
