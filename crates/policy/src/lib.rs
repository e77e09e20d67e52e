//! The IAM policy language: documents parsed and validated as IAM does,
//! compiled once, evaluated per request.
//!
//! Pure: no I/O, no async, no clock (the caller puts the time in the context).
//! `evaluate` is a function of the request and the policies; an error that
//! could hide a Deny is a parse error, refused when the policy is stored, so
//! evaluation itself cannot fail.
//!
//! `catalog` is AWS's Service Authorization Reference (every service's actions,
//! resource types and condition keys) compiled in as data; `lint` uses it to
//! report, as advice, what IAM accepts but cannot work: unknown actions and
//! condition keys, operators that do not suit a key's type.

mod catalog;
mod condition;
mod document;
mod evaluate;
mod glob;
mod lint;
mod variables;

pub use catalog::{
    catalog, global_condition_key, AccessLevel, ActionInfo, Catalog, KeyType, ResourceTypeInfo, ServiceInfo, ValueType,
};
pub use condition::Context;
pub use document::{replace_aws_principal, Effect, Policy, PolicyKind, Statement, Version};
pub use evaluate::{
    evaluate, missing_context_keys, Caller, Decision, PolicyRef, PolicySet, Request, Source, StatementId,
};
pub use lint::{lint, Finding, FindingType};

/// Why a document is not a valid policy; the message is IAM's
/// `MalformedPolicyDocument` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Malformed(String),
}

/// The condition keys some policies refer to (conditions and policy
/// variables), lower-cased and without repeats: all a request context for
/// them needs.
pub fn context_keys_of<'a>(policies: impl Iterator<Item = &'a Policy>) -> Vec<String> {
    let mut keys: Vec<String> = policies.flat_map(Policy::context_keys).map(|k| k.to_ascii_lowercase()).collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Statement {
    /// The principals a resource policy's statement names, as `(type, value)`
    /// (`("AWS", "arn:aws:iam::123456789012:user/bob")`), from `Principal`
    /// or `NotPrincipal`.
    pub fn named_principals(&self) -> &[(String, String)] {
        match &self.principals {
            Some(document::Principals::Only(p) | document::Principals::AllBut(p)) => p,
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests;
