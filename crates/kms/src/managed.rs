//! AWS managed keys: `alias/aws/SERVICE`, created in an account and region
//! the first time a call names the alias, with AWS's key policy (the
//! account's principals may use it only through the service; the account
//! may read its metadata), rotated every year, never deleted or changed by
//! a customer.
//!
//! A managed key's id is derived from its account, region and service, so
//! that authorization can name the key the call will act on before it
//! exists (`access`), and its creation is idempotent.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use rampart_core::{Call, Change, ServiceEvent, SystemChange};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::AwsError;

use crate::access::{name_key, Named};
use crate::crypto::{KeySpec, KeyUsage, Material};
use crate::errors;
use crate::state::{AliasRecord, Key, KeyRecord, KeyRef, KeyState, KeyVersion, State, ALIAS_KIND};
use crate::{key_resource, put, Kms};

/// `alias/aws/NAME` and the service principal's prefix in `kms:ViaService`.
const MANAGED: &[(&str, &str)] = &[
    ("acm", "acm"),
    ("backup", "backup"),
    ("cloudtrail", "cloudtrail"),
    ("codecommit", "codecommit"),
    ("dynamodb", "dynamodb"),
    ("ebs", "ec2"),
    ("elasticfilesystem", "elasticfilesystem"),
    ("es", "es"),
    ("glue", "glue"),
    ("kinesis", "kinesis"),
    ("kinesisvideo", "kinesisvideo"),
    ("lambda", "lambda"),
    ("logs", "logs"),
    ("rds", "rds"),
    ("redshift", "redshift"),
    ("s3", "s3"),
    ("secretsmanager", "secretsmanager"),
    ("sns", "sns"),
    ("sqs", "sqs"),
    ("ssm", "ssm"),
    ("xray", "xray"),
];

/// The service of a managed alias name (`alias/aws/ebs` → `ebs`, `ec2`).
pub(crate) fn managed_service(alias: &str) -> Option<(&'static str, &'static str)> {
    let name = alias.strip_prefix("alias/aws/")?;
    MANAGED.iter().find(|(n, _)| *n == name).copied()
}

/// The managed key's id in an account and region: a UUID from SHA-256 of
/// where it is (not a secret: key ids are not).
pub(crate) fn managed_key_id(account: &str, region: &str, service: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("rampart aws managed key\n{account}\n{region}\n{service}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[0u8; 16]));
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// AWS's key policy of a managed key.
pub(crate) fn managed_policy(account: &str, region: &str, service: &str, via: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-1"),
        "Statement": [
            {
                "Sid": format!("Allow access through {service} for all principals in the account that are authorized to use {service}"),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": format!("{via}.{region}.amazonaws.com"),
                }},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    })
    .to_string()
}

/// A managed key not yet created that a name stands for: its place, and
/// its policy (for authorization before it exists).
pub(crate) fn pending_managed_key(state: &State, named: &Named) -> Option<(KeyRef, Policy)> {
    let Named::Alias { account, region, name } = named else { return None };
    let (service, via) = managed_service(name)?;
    if state.alias(account, region, name).is_some() {
        return None;
    }
    let at =
        KeyRef { account: account.clone(), region: region.clone(), key_id: managed_key_id(account, region, service) };
    let policy = Policy::parse(&managed_policy(account, region, service, via), PolicyKind::Resource).ok()?;
    Some((at, policy))
}

/// The members of a KMS input that name a key.
const KEY_MEMBERS: [&str; 3] = ["KeyId", "SourceKeyId", "DestinationKeyId"];

impl Kms {
    /// Before a call runs: the AWS managed keys it names that do not exist
    /// yet in the caller's account, created and committed (each with its
    /// `CreateKey` service event) so the call finds them.
    pub(crate) async fn create_managed_keys(&self, call: &Call, input: &Value) -> Result<(), AwsError> {
        // Only operations that take aliases can name one (a refused call
        // must not create anything).
        if !crate::access::takes_aliases(call.operation) {
            return Ok(());
        }
        for member in KEY_MEMBERS {
            let Some(named) = input.get(member).and_then(Value::as_str).and_then(|t| name_key(call, t)) else {
                continue;
            };
            let Named::Alias { account, region, name } = &named else { continue };
            let Some((service, via)) = managed_service(name) else { continue };
            if account != call.caller.account().as_str() || region != &call.region {
                continue;
            }
            if self.state.read().alias(account, region, name).is_some() {
                continue;
            }
            let material = Material::generate(KeySpec::SymmetricDefault).map_err(|_| errors::failure())?;
            let guard = self.lock.clone().lock_owned().await;
            // Another call may have created it while this one waited.
            if self.state.read().alias(account, region, name).is_some() {
                continue;
            }
            let change = self.managed_key(account, region, name, service, via, material, guard)?;
            self.committer.commit(change).await.map_err(|e| {
                tracing::error!(error = %e, "an AWS managed key could not be stored");
                errors::failure()
            })?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn managed_key(
        &self,
        account: &str,
        region: &str,
        alias: &str,
        service: &str,
        via: &str,
        material: Material,
        guard: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<SystemChange, AwsError> {
        let now = self.clock.now();
        let at = KeyRef {
            account: account.to_string(),
            region: region.to_string(),
            key_id: managed_key_id(account, region, service),
        };
        let policy_text = managed_policy(account, region, service, via);
        let policy = Policy::parse(&policy_text, PolicyKind::Resource).map_err(|_| errors::failure())?;
        let material_id = errors::random_id()?;
        let record = KeyRecord {
            key_id: at.key_id.clone(),
            created: now,
            description: format!("Default key that protects my {service} data when no other key is defined"),
            spec: KeySpec::SymmetricDefault.name().to_string(),
            usage: KeyUsage::EncryptDecrypt.name().to_string(),
            origin: "AWS_KMS".to_string(),
            manager: "AWS".to_string(),
            state: KeyState::Enabled,
            policy: policy_text,
            tags: Vec::new(),
            versions: vec![KeyVersion { version: 1, material_id, created: now, rotation: None }],
            // AWS rotates its managed keys every year.
            rotation_enabled: true,
            rotation_period_days: Some(365),
            next_rotation: Some(now + 365.0 * 86_400.0),
            deletion_date: None,
            pending_window_days: None,
            multi_region: false,
            primary_region: None,
            valid_to: None,
            import_digest: None,
            last_used: None,
            custom_key_store_id: None,
            cloud_hsm_cluster_id: None,
            cluster_check: None,
        };
        let alias_record =
            AliasRecord { name: alias.to_string(), target: at.key_id.clone(), created: now, updated: now };
        let key = Key {
            at: at.clone(),
            record,
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
            policy: Arc::new(policy),
            materials: BTreeMap::from([(1, material)]),
            aliases: Vec::new(),
            grants: Vec::new(),
            cluster: None,
        };
        let mut writes = self.key_writes(&key, key.materials.get(&1).map(|m| (1, m)))?;
        writes.push(put(ALIAS_KIND, account, &format!("{region}/{alias}"), &alias_record)?);
        let event = ServiceEvent {
            source: "kms.amazonaws.com",
            invoked_by: None,
            account: rampart_core::AccountId::parse(account).ok_or_else(errors::failure)?,
            region: region.to_string(),
            event_name: "CreateKey".to_string(),
            read_only: false,
            resources: vec![key_resource(&at.arn())],
            details: json!({ "keyId": at.arn(), "aliasName": alias }),
        };
        let state = self.state.clone();
        let (account, region) = (account.to_string(), region.to_string());
        let change = Change {
            writes,
            apply: Box::new(move || {
                let mut state = state.write();
                state.keys.insert(key.at.clone(), key);
                state.put_alias(&account, &region, alias_record);
                drop(guard);
            }),
        };
        Ok(SystemChange { change, events: vec![event] })
    }
}
