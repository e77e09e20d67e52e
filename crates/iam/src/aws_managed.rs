//! The AWS managed policies Rampart carries (`arn:aws:iam::aws:policy/…`):
//! every one in the public copy of AWS's set, kept as data in
//! `data/aws-managed-policies.json`, which `scripts/aws-managed-policies.py`
//! writes from moto's copy of AWS's policies (see `data/NOTICE`). Each has
//! only its default version.
//!
//! The data (3 MB) is embedded in the binary and indexed on first use; the
//! index borrows every string and document from the embedded text, so memory
//! holds only the index, and a document is compiled only when a principal
//! it is attached to is. Data that does not parse yields no policies rather
//! than a panic; the tests below fail if that happens.

use std::sync::OnceLock;

use serde::Deserialize;

const DATA: &str = include_str!("../data/aws-managed-policies.json");

/// The ARN of every AWS managed policy starts with this, then path and name.
const ARN_PREFIX: &str = "arn:aws:iam::aws:policy";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AwsManagedPolicy {
    pub name: &'static str,
    /// `/`, or `/job-function/`, `/service-role/`, …
    pub path: &'static str,
    /// Made up by the script (moto does not have AWS's), stable across releases.
    pub policy_id: &'static str,
    /// The id of the version carried: `v1`, `v182`, …
    pub default_version: &'static str,
    /// Epoch seconds.
    pub create_date: f64,
    /// Epoch seconds: when AWS last changed the default version.
    pub update_date: f64,
    /// The default version's document, minified JSON, as embedded.
    #[serde(borrow)]
    document: &'static serde_json::value::RawValue,
}

impl AwsManagedPolicy {
    /// The default version's document.
    pub fn document(&self) -> &'static str {
        self.document.get()
    }

    pub fn arn(&self) -> String {
        format!("{ARN_PREFIX}{}{}", self.path, self.name)
    }

    fn has_arn(&self, arn: &str) -> bool {
        arn.strip_prefix(ARN_PREFIX).and_then(|rest| rest.strip_prefix(self.path)) == Some(self.name)
    }
}

/// Every AWS managed policy carried, sorted by name.
pub(crate) fn aws_managed_policies() -> &'static [AwsManagedPolicy] {
    static POLICIES: OnceLock<Vec<AwsManagedPolicy>> = OnceLock::new();
    POLICIES.get_or_init(|| parse(DATA))
}

/// The AWS managed policy with this ARN, if Rampart carries it (found by
/// its name, the ARN's last part: names are unique across paths).
pub(crate) fn aws_managed_policy(arn: &str) -> Option<&'static AwsManagedPolicy> {
    let name = arn.strip_prefix(ARN_PREFIX)?.rsplit('/').next()?;
    let all = aws_managed_policies();
    let index = all.binary_search_by(|p| p.name.cmp(name)).ok()?;
    all.get(index).filter(|p| p.has_arn(arn))
}

fn parse(data: &'static str) -> Vec<AwsManagedPolicy> {
    // The data is compiled in; `every_policy_is_carried_and_well_formed`
    // fails if it does not parse.
    serde_json::from_str(data).unwrap_or_else(|_| Vec::new())
}

#[cfg(test)]
mod tests {
    use rampart_policy::{evaluate, Context, Policy, PolicyKind, PolicyRef, PolicySet, Request};

    use super::*;

    /// The policies the script is asked for that moto 5.2.1 has.
    const EXPECTED: &[&str] = &[
        "AdministratorAccess",
        "ReadOnlyAccess",
        "SecurityAudit",
        "ViewOnlyAccess",
        "PowerUserAccess",
        "IAMFullAccess",
        "IAMReadOnlyAccess",
        "IAMUserChangePassword",
        "IAMSelfManageServiceSpecificCredentials",
        "AWSSupportAccess",
        "AWSCloudTrail_FullAccess",
        "AWSCloudTrail_ReadOnlyAccess",
        "AWSKeyManagementServicePowerUser",
        "AWSConfigUserAccess",
        "AWS_ConfigRole",
        "AmazonEC2FullAccess",
        "AmazonEC2ReadOnlyAccess",
        "AmazonVPCFullAccess",
        "AmazonVPCReadOnlyAccess",
        "CloudWatchFullAccess",
        "CloudWatchReadOnlyAccess",
        "CloudWatchLogsFullAccess",
        "CloudWatchLogsReadOnlyAccess",
        "AWSSecurityHubFullAccess",
        "AWSSecurityHubReadOnlyAccess",
        "AmazonGuardDutyReadOnlyAccess",
        "AccessAnalyzerServiceRolePolicy",
        "Billing",
    ];

    fn policy(name: &str) -> &'static AwsManagedPolicy {
        aws_managed_policies().iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} is not carried"))
    }

    fn allows(name: &str, action: &str, resource: &str) -> bool {
        let parsed = Policy::parse(policy(name).document(), PolicyKind::Identity).unwrap();
        let context = Context::new();
        let set = PolicySet { identity: vec![PolicyRef { name, policy: &parsed }], ..Default::default() };
        evaluate(&Request::identity(action, resource, &context), &set).is_allowed()
    }

    #[test]
    fn every_policy_is_carried_and_well_formed() {
        let all = aws_managed_policies();
        for name in EXPECTED {
            assert!(all.iter().any(|p| p.name == *name), "{name} missing");
        }
        assert!(all.len() >= 1400, "the whole public set: {}", all.len());
        for name in ["AWSCloudShellFullAccess", "AmazonSSMManagedInstanceCore", "AWSLambdaBasicExecutionRole"] {
            assert!(all.iter().any(|p| p.name == name), "{name} missing");
        }
        assert!(all.windows(2).all(|w| w[0].name < w[1].name), "sorted by name, no duplicates");
        for p in all {
            let parsed = Policy::parse(p.document(), PolicyKind::Identity);
            assert!(parsed.is_ok(), "{}: {parsed:?}", p.name);
            assert!(p.path.starts_with('/') && p.path.ends_with('/'), "{}: path {}", p.name, p.path);
            let id = p.policy_id.strip_prefix("ANPA").unwrap_or_default();
            assert!(id.len() == 17 && id.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7')), "{}", p.name);
            let version = p.default_version.strip_prefix('v').unwrap_or_default();
            assert!(version.parse::<u32>().is_ok_and(|v| v >= 1), "{}: {}", p.name, p.default_version);
            // After 2015-01-01, creation first.
            assert!(1_420_070_400.0 <= p.create_date && p.create_date <= p.update_date, "{}", p.name);
            assert_eq!(aws_managed_policy(&p.arn()).map(|q| q.name), Some(p.name));
        }
        let ids: std::collections::BTreeSet<_> = all.iter().map(|p| &p.policy_id).collect();
        assert_eq!(ids.len(), all.len(), "policy ids are unique");
        // Binary size: the data stays under four megabytes.
        assert!(DATA.len() < 4 * 1024 * 1024, "{} bytes", DATA.len());
    }

    #[test]
    fn data_that_does_not_parse_yields_no_policies() {
        assert!(parse("not json").is_empty());
        assert!(parse(r#"[{"name":"X"}]"#).is_empty());
        assert_eq!(parse("[]").len(), 0);
    }

    #[test]
    fn lookup_by_arn_needs_the_exact_path() {
        let view = aws_managed_policy("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess");
        assert_eq!(view.map(|p| p.path), Some("/job-function/"));
        assert!(aws_managed_policy("arn:aws:iam::aws:policy/ViewOnlyAccess").is_none());
        let config = aws_managed_policy("arn:aws:iam::aws:policy/service-role/AWS_ConfigRole");
        assert_eq!(config.map(|p| p.name), Some("AWS_ConfigRole"));
        assert!(aws_managed_policy("arn:aws:iam::aws:policy/administratoraccess").is_none());
        assert!(aws_managed_policy("arn:aws:iam::123456789012:policy/AdministratorAccess").is_none());
        assert!(aws_managed_policy("arn:aws:iam::aws:policy/AdministratorAccessX").is_none());
    }

    #[test]
    fn administrator_access_allows_everything() {
        let admin = policy("AdministratorAccess");
        let document: serde_json::Value = serde_json::from_str(admin.document()).unwrap();
        assert_eq!(
            document,
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        );
        assert_eq!((admin.path, admin.default_version), ("/", "v1"));
        assert!(allows("AdministratorAccess", "iam:CreateUser", "arn:aws:iam::111122223333:user/bob"));
    }

    #[test]
    fn read_only_access_reads_and_does_not_write() {
        let bob = "arn:aws:iam::111122223333:user/bob";
        assert!(allows("ReadOnlyAccess", "iam:GetUser", bob));
        assert!(allows("ReadOnlyAccess", "iam:ListUsers", "*"));
        assert!(allows("ReadOnlyAccess", "ec2:DescribeInstances", "*"));
        assert!(!allows("ReadOnlyAccess", "iam:CreateUser", bob));
        assert!(!allows("ReadOnlyAccess", "iam:DeleteUser", bob));
        assert!(!allows("ReadOnlyAccess", "ec2:TerminateInstances", "*"));
        assert!(allows("SecurityAudit", "iam:GetAccountAuthorizationDetails", "*"));
        assert!(!allows("SecurityAudit", "iam:CreateAccessKey", bob));
        assert!(allows("IAMReadOnlyAccess", "iam:GetPolicyVersion", "*"));
        assert!(!allows("IAMReadOnlyAccess", "iam:AttachUserPolicy", bob));
    }
}
