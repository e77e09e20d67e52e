//! Amazon Resource Names: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`,
//! parsed and formatted in one place (the resource part may itself hold `:`
//! and `/`, as in `log-group:name:*` or `role/path/name`).

use std::fmt;

use crate::AccountId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    /// Empty for global services (IAM).
    pub region: String,
    /// Empty for resources of no account (S3 buckets, AWS managed policies: `aws`).
    pub account: String,
    pub resource: String,
}

impl Arn {
    /// Parses an ARN: six `:`-separated parts, the last of which may hold more
    /// `:`. Empty partition, service or resource parts are not ARNs.
    pub fn parse(text: &str) -> Option<Arn> {
        let mut parts = text.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Arn {
            partition: partition.to_string(),
            service: service.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            resource: resource.to_string(),
        })
    }

    /// An IAM entity of `account`: `kind` is `user`, `group`, `role`,
    /// `policy`, `instance-profile`…; `path` begins and ends with `/`.
    pub fn iam(account: &AccountId, kind: &str, path: &str, name: &str) -> Arn {
        Arn {
            partition: "aws".into(),
            service: "iam".into(),
            region: String::new(),
            account: account.to_string(),
            resource: format!("{kind}{path}{name}"),
        }
    }

    /// The account the ARN names, when it names one (12 digits).
    pub fn account_id(&self) -> Option<AccountId> {
        AccountId::parse(&self.account)
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Arn { partition, service, region, account, resource } = self;
        write!(f, "arn:{partition}:{service}:{region}:{account}:{resource}")
    }
}

/// The ARN of an IAM entity, as text.
pub fn iam_arn(account: &AccountId, kind: &str, path: &str, name: &str) -> String {
    Arn::iam(account, kind, path, name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats from AWS's "Amazon Resource Names" reference and the IAM identifiers page.
    #[test]
    fn parses_and_formats_the_documented_formats() {
        let cases = [
            ("arn:aws:iam::123456789012:user/johndoe", "iam", "", "123456789012", "user/johndoe"),
            (
                "arn:aws:iam::123456789012:role/application_abc/component_xyz/S3Access",
                "iam",
                "",
                "123456789012",
                "role/application_abc/component_xyz/S3Access",
            ),
            ("arn:aws:iam::aws:policy/ReadOnlyAccess", "iam", "", "aws", "policy/ReadOnlyAccess"),
            (
                "arn:aws:s3:::my_corporate_bucket/exampleobject.png",
                "s3",
                "",
                "",
                "my_corporate_bucket/exampleobject.png",
            ),
            (
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "kms",
                "us-east-1",
                "123456789012",
                "key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:my-log-group:*",
                "logs",
                "us-east-1",
                "123456789012",
                "log-group:my-log-group:*",
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/Accounting-Role/Mary",
                "sts",
                "",
                "123456789012",
                "assumed-role/Accounting-Role/Mary",
            ),
        ];
        for (text, service, region, account, resource) in cases {
            let arn = Arn::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                (arn.service.as_str(), arn.region.as_str(), arn.account.as_str(), arn.resource.as_str()),
                (service, region, account, resource),
                "{text}"
            );
            assert_eq!(arn.to_string(), text);
        }
        let cn = Arn::parse("arn:aws-cn:iam::123456789012:root").unwrap();
        assert_eq!(cn.partition, "aws-cn");
        assert_eq!(cn.account_id().map(|a| a.to_string()), Some("123456789012".to_string()));
        for bad in ["", "arn", "arn:aws:iam::123456789012", "arn::iam::1:user/x", "arn:aws:iam::1:", "urn:aws:iam::1:x"]
        {
            assert_eq!(Arn::parse(bad), None, "{bad}");
        }
        assert_eq!(Arn::parse("arn:aws:s3:::bucket").and_then(|a| a.account_id()), None);
    }

    #[test]
    fn iam_entities() {
        let account = AccountId::parse("123456789012").unwrap_or_else(|| panic!());
        assert_eq!(
            iam_arn(&account, "user", "/division_abc/", "Bob"),
            "arn:aws:iam::123456789012:user/division_abc/Bob"
        );
        assert_eq!(iam_arn(&account, "instance-profile", "/", "web"), "arn:aws:iam::123456789012:instance-profile/web");
    }
}
