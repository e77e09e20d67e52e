//! What every service and the server share: who is calling ([`Principal`]),
//! the secrets they hold ([`Secret`]), the sealer that wraps stored secrets
//! ([`Sealer`] over a [`KeyWrapper`]), the in-memory credential table authentication reads
//! ([`Credentials`]), the interface a service implements ([`Service`]), and
//! the HSM clusters behind KMS's custom key stores ([`clusters`]).
//!
//! No HTTP and no SQL here.

mod access;
mod arn;
mod authorization_message;
pub mod clusters;
mod credentials;
mod identity;
pub mod ids;
pub mod paging;
pub mod regions;
mod registry;
mod secret;
mod service;
pub mod service_keys;
mod session;
pub mod tags;
mod task;
pub mod wrapping;

pub use access::{request_keys, request_tags, Access, Check, RequestKey};
pub use arn::{iam_arn, Arn};
pub use authorization_message::{decode_authorization_message, encode_authorization_message};
pub use credentials::{CredentialEntry, CredentialRefusal, Credentials, LastUsed, SessionOpener};
pub use identity::{AccountId, FederatedIdentity, FederationKind, Principal};
pub use rampart_wire::{AwsError, ServiceId};
pub use registry::{is_call_of, parse_input, Handler, Operation, OperationMeta, Registry};
pub use secret::Secret;
pub use service::{
    split_changes, AccessTarget, BoxFuture, Busy, Call, Change, Mutation, Outcome, OutputMembers, PrincipalFollower,
    Resource, ResourcePolicy, Service, ThumbprintProbe, DEFAULT_MAX_BODY_BYTES,
};
pub use session::Session;
pub use task::{ServiceEvent, SystemChange, SystemCommitter, Task, TaskRun};
pub use wrapping::{FileKeys, KeyWrapper, Sealer, WrapError};
