//! Cases taken from AWS's documentation of the policy language and its
//! evaluation logic, as data: one `check` per case.

use crate::*;

fn policy(json: &str) -> Policy {
    Policy::parse(json, PolicyKind::Identity).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn context(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.set(k, *v);
    }
    c
}

/// Decides `action` on `resource` with `pairs` as context, against identity policies.
fn decide(policies: &[&str], action: &str, resource: &str, pairs: &[(&str, &str)]) -> Decision {
    let parsed: Vec<Policy> = policies.iter().map(|p| policy(p)).collect();
    let refs = parsed.iter().map(|p| PolicyRef { name: "p", policy: p }).collect();
    let ctx = context(pairs);
    evaluate(
        &Request::identity(action, resource, &ctx),
        &PolicySet { identity: refs, boundary: None, ..Default::default() },
    )
}

fn allowed(policies: &[&str], action: &str, resource: &str, pairs: &[(&str, &str)]) -> bool {
    decide(policies, action, resource, pairs).is_allowed()
}

fn stmt(effect: &str, action: &str, resource: &str, condition: &str) -> String {
    let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Action":"{action}","Resource":"{resource}"{condition}}}]}}"#
    )
}

#[test]
fn explicit_deny_beats_every_allow() {
    let allow = stmt("Allow", "*", "*", "");
    let deny = stmt("Deny", "iam:DeleteUser", "*", "");
    assert!(allowed(&[&allow], "iam:DeleteUser", "arn:aws:iam::1:user/bob", &[]));
    assert!(matches!(
        decide(&[&allow, &deny], "iam:DeleteUser", "arn:aws:iam::1:user/bob", &[]),
        Decision::ExplicitDeny { source: Source::Identity, .. }
    ));
    assert!(allowed(&[&allow, &deny], "iam:GetUser", "arn:aws:iam::1:user/bob", &[]));
    assert_eq!(decide(&[], "iam:GetUser", "*", &[]), Decision::ImplicitDeny { missing: Source::Identity });
}

#[test]
fn actions_match_ignoring_case_resources_exactly() {
    let p = stmt("Allow", "IAM:get*", "arn:aws:iam::1:user/Bob", "");
    assert!(allowed(&[&p], "iam:GetUser", "arn:aws:iam::1:user/Bob", &[]));
    assert!(!allowed(&[&p], "iam:GetUser", "arn:aws:iam::1:user/bob", &[]));
    assert!(!allowed(&[&p], "iam:ListUsers", "arn:aws:iam::1:user/Bob", &[]));
}

#[test]
fn not_action_and_not_resource() {
    // "Allow everything except IAM" does not by itself deny IAM: it just does not allow it.
    let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#;
    assert!(allowed(&[p], "s3:GetObject", "arn:aws:s3:::b/k", &[]));
    assert!(!allowed(&[p], "iam:CreateUser", "*", &[]));
    let both = [p, &stmt("Allow", "iam:*", "*", "")];
    assert!(allowed(&both, "iam:CreateUser", "*", &[]));
    // Deny with NotResource: everything outside the listed resource is denied.
    let d = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::mine/*"}]}"#;
    assert!(allowed(&[d], "s3:GetObject", "arn:aws:s3:::mine/k", &[]));
    assert!(!allowed(&[d], "s3:GetObject", "arn:aws:s3:::theirs/k", &[]));
}

#[test]
fn username_variable_limits_users_to_themselves() {
    let p = stmt("Allow", "iam:GetUser", "arn:aws:iam::111122223333:user/${aws:username}", "");
    let bob = [("aws:username", "bob")];
    assert!(allowed(&[&p], "iam:GetUser", "arn:aws:iam::111122223333:user/bob", &bob));
    assert!(!allowed(&[&p], "iam:GetUser", "arn:aws:iam::111122223333:user/alice", &bob));
    // Without the key (e.g. a role session), the variable matches nothing.
    assert!(!allowed(&[&p], "iam:GetUser", "arn:aws:iam::111122223333:user/bob", &[]));
    // Version 2008-10-17 treats ${...} as literal text.
    let old = p.replace("2012-10-17", "2008-10-17");
    assert!(!allowed(&[&old], "iam:GetUser", "arn:aws:iam::111122223333:user/bob", &bob));
    assert!(allowed(&[&old], "iam:GetUser", "arn:aws:iam::111122223333:user/${aws:username}", &bob));
}

/// A condition block, the request's context, and whether `Allow * on *` with it allows.
type ConditionCase<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);

#[test]
fn condition_operators() {
    let cases: &[ConditionCase] = &[
        (r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[("aws:RequestedRegion", "us-east-1")], true),
        (r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[("aws:RequestedRegion", "eu-west-1")], false),
        (
            r#"{"StringEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}"#,
            &[("aws:RequestedRegion", "us-east-1")],
            true,
        ),
        (r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[], false),
        (r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[("aws:RequestedRegion", "eu-west-1")], true),
        (r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[("aws:RequestedRegion", "us-east-1")], false),
        // A negated operator holds when the key is absent.
        (r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &[], true),
        (r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"Blue"}}"#, &[("aws:PrincipalTag/team", "bLUE")], true),
        (r#"{"StringLike":{"aws:userid":"AIDA*"}}"#, &[("aws:userid", "AIDAEXAMPLE")], true),
        (r#"{"StringLike":{"aws:userid":"AROA*"}}"#, &[("aws:userid", "AIDAEXAMPLE")], false),
        (r#"{"StringNotLike":{"aws:userid":"AROA*"}}"#, &[("aws:userid", "AIDAEXAMPLE")], true),
        (r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#, &[("aws:MultiFactorAuthAge", "60")], true),
        (r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}"#, &[("aws:MultiFactorAuthAge", "7200")], false),
        (r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#, &[("s3:max-keys", "10")], true),
        (r#"{"NumericEquals":{"s3:max-keys":"10"}}"#, &[("s3:max-keys", "ten")], false),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
            &[("aws:CurrentTime", "2026-11-24T06:00:00Z")],
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
            &[("aws:CurrentTime", "2026-11-24T06:00:00Z")],
            false,
        ),
        (r#"{"DateLessThan":{"aws:EpochTime":"2000000000"}}"#, &[("aws:EpochTime", "1795500000")], true),
        (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:SecureTransport", "true")], true),
        (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[("aws:SecureTransport", "false")], false),
        (r#"{"Bool":{"aws:MultiFactorAuthPresent":true}}"#, &[], false),
        (r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#, &[], true),
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:SourceIp", "203.0.113.7")], true),
        (r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#, &[("aws:SourceIp", "198.51.100.7")], false),
        (
            r#"{"IpAddress":{"aws:SourceIp":["127.0.0.1/32","2001:db8::/32"]}}"#,
            &[("aws:SourceIp", "2001:db8::1")],
            true,
        ),
        (r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &[("aws:SourceIp", "192.0.2.1")], true),
        (r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#, &[("aws:SourceIp", "192.0.2.1")], true),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/admins/*"}}"#,
            &[("aws:PrincipalArn", "arn:aws:iam::1:user/admins/ann")],
            true,
        ),
        (
            r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::1:user/bob"}}"#,
            &[("aws:PrincipalArn", "arn:aws:iam::1:user/bobby")],
            false,
        ),
        (
            r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::1:user/x*"}}"#,
            &[("aws:PrincipalArn", "arn:aws:iam::1:user/bob")],
            true,
        ),
        (r#"{"Null":{"aws:TokenIssueTime":"true"}}"#, &[], true),
        (r#"{"Null":{"aws:TokenIssueTime":"true"}}"#, &[("aws:TokenIssueTime", "2026-01-01T00:00:00Z")], false),
        (r#"{"Null":{"aws:TokenIssueTime":"false"}}"#, &[("aws:TokenIssueTime", "2026-01-01T00:00:00Z")], true),
        (r#"{"StringEqualsIfExists":{"ec2:InstanceType":"t3.micro"}}"#, &[], true),
        (r#"{"StringEqualsIfExists":{"ec2:InstanceType":"t3.micro"}}"#, &[("ec2:InstanceType", "m5.large")], false),
        (r#"{"BinaryEquals":{"kms:x":"QmluYXJ5"}}"#, &[("kms:x", "QmluYXJ5")], true),
        // Several keys are ANDed; several operators too.
        (
            r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1","aws:username":"bob"}}"#,
            &[("aws:RequestedRegion", "us-east-1")],
            false,
        ),
        (
            r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"},"Bool":{"aws:SecureTransport":"true"}}"#,
            &[("aws:RequestedRegion", "us-east-1"), ("aws:SecureTransport", "true")],
            true,
        ),
        // Variables in condition values.
        (
            r#"{"StringEquals":{"aws:PrincipalTag/owner":"${aws:username}"}}"#,
            &[("aws:PrincipalTag/owner", "bob"), ("aws:username", "bob")],
            true,
        ),
        (
            r#"{"StringEquals":{"aws:PrincipalTag/owner":"${aws:username}"}}"#,
            &[("aws:PrincipalTag/owner", "bob")],
            false,
        ),
        // Condition keys match ignoring case.
        (r#"{"StringEquals":{"AWS:REQUESTEDREGION":"us-east-1"}}"#, &[("aws:RequestedRegion", "us-east-1")], true),
    ];
    for (condition, pairs, want) in cases {
        let p = stmt("Allow", "*", "*", condition);
        assert_eq!(allowed(&[&p], "s3:GetObject", "*", pairs), *want, "{condition} with {pairs:?}");
    }
}

#[test]
fn set_operators_and_their_empty_set_traps() {
    let check = |condition: &str, tags: Option<Vec<&str>>, want: bool| {
        let p = policy(&stmt("Allow", "*", "*", condition));
        let mut ctx = Context::new();
        if let Some(tags) = &tags {
            ctx.set_all("aws:TagKeys", tags.iter().map(|s| s.to_string()).collect());
        }
        let set = PolicySet { identity: vec![PolicyRef { name: "p", policy: &p }], ..Default::default() };
        let got = evaluate(&Request::identity("iam:TagUser", "*", &ctx), &set).is_allowed();
        assert_eq!(got, want, "{condition} with {tags:?}");
    };
    let all = r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","cost"]}}"#;
    check(all, Some(vec!["team"]), true);
    check(all, Some(vec!["team", "cost"]), true);
    check(all, Some(vec!["team", "owner"]), false);
    // The documented trap: ForAllValues holds when the request has no such key.
    check(all, None, true);
    let any = r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["team","cost"]}}"#;
    check(any, Some(vec!["owner", "cost"]), true);
    check(any, Some(vec!["owner"]), false);
    check(any, None, false);
    let none_of = r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret"]}}"#;
    check(none_of, Some(vec!["team"]), true);
    check(none_of, Some(vec!["team", "secret"]), false);
}

#[test]
fn permissions_boundary_limits_an_admin() {
    let admin = policy(&stmt("Allow", "*", "*", ""));
    let boundary = policy(&stmt("Allow", "iam:Get*", "*", ""));
    let ctx = Context::new();
    let set = PolicySet {
        identity: vec![PolicyRef { name: "arn:aws:iam::aws:policy/AdministratorAccess", policy: &admin }],
        boundary: Some(PolicyRef { name: "arn:aws:iam::1:policy/Boundary", policy: &boundary }),
        ..Default::default()
    };
    let get = Request::identity("iam:GetUser", "*", &ctx);
    let delete = Request::identity("iam:DeleteUser", "*", &ctx);
    assert!(evaluate(&get, &set).is_allowed());
    assert_eq!(evaluate(&delete, &set), Decision::ImplicitDeny { missing: Source::Boundary });
    // A boundary alone grants nothing.
    let only_boundary = PolicySet { identity: vec![], boundary: set.boundary, ..Default::default() };
    assert_eq!(evaluate(&get, &only_boundary), Decision::ImplicitDeny { missing: Source::Identity });
}

#[test]
fn decisions_name_the_statement() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnly","Effect":"Allow","Action":"iam:Get*","Resource":"*"},
           {"Sid":"NoDelete","Effect":"Deny","Action":"iam:Delete*","Resource":"*"}]}"#,
    );
    let ctx = Context::new();
    let set = PolicySet { identity: vec![PolicyRef { name: "inline-read", policy: &p }], ..Default::default() };
    let d = evaluate(&Request::identity("iam:DeleteUser", "*", &ctx), &set);
    assert_eq!(
        d,
        Decision::ExplicitDeny {
            source: Source::Identity,
            statement: StatementId { policy: "inline-read".into(), sid: Some("NoDelete".into()), index: 1 }
        }
    );
}

/// A document, what it is used as, and IAM's answer: accepted, or refused
/// with exactly this `MalformedPolicyDocument` message.
type GrammarCase<'a> = (&'a str, PolicyKind, Result<(), &'a str>);

/// IAM's grammar and the order of its checks. The `Managed` rows are the
/// CreatePolicy cases of moto 5.2.1's `tests/test_iam/test_iam_policies.py`,
/// which records AWS's answers.
#[test]
fn documents_get_iams_answer() {
    use PolicyKind::{Identity, Managed, Resource, ServiceControl, Trust};
    let cases: &[GrammarCase] = &[
        // moto: invalid_policy_document_test_cases
        (r#"This is not a json document"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}}"#, Managed, Err("Policy document must be version 2012-10-17 or greater.")),
        (r#"{"Version":"2008-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Policy document must be version 2012-10-17 or greater.")),
        (r#"{"Version":"2013-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17"}"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":["afd"]}"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Extra field":"value","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Extra field":"value"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Id":["cd3a324d2343d942772346-34234234423404-4c2242343242349d1642ee"],"Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Id":{},"Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"invalid","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"invalid","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"a a:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Vendor a a is not valid")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:List:Bucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Actions/Condition can contain only one colon.")),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"s3s:ListBucket","Resource":"arn:aws:s3:::example_bucket"},
              {"Effect":"Allow","Action":"s:3s:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            ]}"#, Managed, Err("Actions/Condition can contain only one colon.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"invalid resource"}
            }"#, Managed, Err("Resource invalid resource must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"EnableDisableHongKong","Effect":"Allow","Action":["account:EnableRegion","account:DisableRegion"],"Resource":"","Condition":{"StringEquals":{"account:TargetRegion":"ap-east-1"}}},
              {"Sid":"ViewConsole","Effect":"Allow","Action":["aws-portal:ViewAccount","account:ListRegions"],"Resource":""}
            ]}"#, Managed, Err("Resource  must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s:3:ListBucket","Resource":"sdfsadf"}
            }"#, Managed, Err("Resource sdfsadf must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":["adf"]}}"#, Managed, Err("Resource adf must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":""}}"#, Managed, Err("Resource  must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3s:ListBucket","Resource":"a:bsdfdsafsad"}
            }"#, Managed, Err("Partition \"bsdfdsafsad\" is not valid for resource \"arn:bsdfdsafsad:*:*:*:*\".")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3s:ListBucket","Resource":"a:b:cadfsdf"}
            }"#, Managed, Err("Partition \"b\" is not valid for resource \"arn:b:cadfsdf:*:*:*\".")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3s:ListBucket","Resource":"a:b:c:d:e:f:g:h"}
            }"#, Managed, Err("Partition \"b\" is not valid for resource \"arn:b:c:d:e:f:g:h\".")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"aws:s3:::example_bucket"}
            }"#, Managed, Err("Partition \"s3\" is not valid for resource \"arn:s3:::example_bucket:*\".")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:error:s3:::example_bucket","arn:error:s3::example_bucket"]}
            }"#, Managed, Err("Partition \"error\" is not valid for resource \"arn:error:s3:::example_bucket\".")),
        (r#"{"Version":"2012-10-17","Statement":[]}"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket"}}"#, Managed, Err("Policy statement must contain resources.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":[]}}"#, Managed, Err("Policy statement must contain resources.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"invalid"}}"#, Managed, Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"arn:aws:s3:::example_bucket"}}"#, Managed, Err("Policy statement must contain actions.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow"}}"#, Managed, Err("Policy statement must contain actions.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":[],"Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Policy statement must contain actions.")),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Deny"},
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            ]}"#, Managed, Err("Policy statement must contain actions.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:iam:::example_bucket"}
            }"#, Managed, Err("IAM resource path must either be \"*\" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3::example_bucket"}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"arn:aws:s3::example_bucket"}}"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws"}
            }"#, Managed, Err("Resource vendor must be fully qualified and cannot contain regexes.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":{"a":"arn:aws:s3:::example_bucket"}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Deny","Action":"s3:ListBucket","Resource":["adfdf",{}]}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","NotResource":[]}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Deny","Action":[[]],"Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3s:ListBucket","Action":[],"Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":{},"Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":[]}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":"a"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"a":"b"}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":"b"}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":[]}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":{}}}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":{}}}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"x":{"a":"1"}}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"ForAnyValue::StringEqualsIfExists":{"a":"asf"}}}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":[{"ForAllValues:StringEquals":{"aws:TagKeys":"Department"}}]}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:iam:us-east-1::example_bucket"}
            }"#, Managed, Err("IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:us-east-1::example_bucket"}
            }"#, Managed, Err("Resource arn:aws:s3:us-east-1::example_bucket can not contain region information.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Sid":{},"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Sid":[],"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"sdf","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"},
              {"Sid":"sdf","Effect":"Allow"}
            ]}"#, Managed, Err("Statement IDs (SID) in a single policy must be unique.")),
        (r#"{"Statement":[
              {"Sid":"sdf","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"},
              {"Sid":"sdf","Effect":"Allow"}
            ]}"#, Managed, Err("Policy document must be version 2012-10-17 or greater.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3:ListBucket","Action":"iam:dsf","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","NotResource":"*"}
            }"#, Managed, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"denY","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":"sdfdsf"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":"sdfdsf"}}}
            }"#, Managed, Err("Policy document must be version 2012-10-17 or greater.")),
        (r#"{"Statement":{"Effect":"denY","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}}"#, Managed, Err("Policy document must be version 2012-10-17 or greater.")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Condition":{"DateGreaterThan":{"a":"sdfdsf"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3:ListBucket","Resource":"arn:aws::::example_bucket"}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"allow","Resource":"arn:aws:s3:us-east-1::example_bucket"}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"sdf","Effect":"aLLow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"},
              {"Sid":"sdf","Effect":"Allow"}
            ]}"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","NotResource":"arn:aws:s3::example_bucket"}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThanEquals":{"a":"234-13"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThanEquals":{"a":"2016-12-13t2:00:00.593194+1"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThanEquals":{"a":"2016-12-13t2:00:00.1999999999+10:59"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThan":{"a":"9223372036854775808"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:error:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":"sdfdsf"}}}
            }"#, Managed, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws::fdsasf"}
            }"#, Managed, Err("The policy failed legacy parsing")),
        // moto: valid_policy_documents
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:aws:s3:::example_bucket"]}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"iam: asdf safdsf af ","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:aws:s3:::example_bucket","*"]}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"service-prefix:action-name","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2017-07-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2017-12-31T23:59:59Z"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"fsx:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:iam:::user/example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s33:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:fdsasf"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":"Department"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:cloudwatch:us-east-1::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:ec2:us-east-1::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:invalid-service:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:invalid-service:us-east-1::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2017-07-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2017-12-31T23:59:59Z"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":[]}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"a":{}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Sid":"dsfsdfsdfsdfsdfsadfsd","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"ConsoleDisplay","Effect":"Allow","Action":["iam:GetRole","iam:GetUser","iam:ListRoles","iam:ListRoleTags","iam:ListUsers","iam:ListUserTags"],"Resource":"*"},
              {"Sid":"AddTag","Effect":"Allow","Action":["iam:TagUser","iam:TagRole"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/CostCenter":["A-123","B-456"]},"ForAllValues:StringEquals":{"aws:TagKeys":"CostCenter"}}}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::HRBucket/Payroll","arn:aws:s3:::HRBucket/Payroll/*"]}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Id":"sdfsdfsdf","Statement":
              {"Effect":"Allow","NotAction":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"aaaaaadsfdsafsadfsadfaaaaa:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3-s:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3.s:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","NotAction":"s3:ListBucket","NotResource":"*"}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"sdf","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"},
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket"}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateGreaterThan":{"a":"01T"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"x":{},"y":{}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"StringEqualsIfExists":{"a":"asf"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"ForAnyValue:StringEqualsIfExists":{"a":"asf"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThanEquals":{"a":"2019-07-01T13:20:15Z"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThanEquals":{"a":"2016-12-13T21:20:37.593194+00:00"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThanEquals":{"a":"2016-12-13t2:00:00.593194+23"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example_bucket","Condition":{"DateLessThan":{"a":"-292275054"}}}
            }"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"AllowViewAccountInfo","Effect":"Allow","Action":["iam:GetAccountPasswordPolicy","iam:GetAccountSummary","iam:ListVirtualMFADevices"],"Resource":"*"},
              {"Sid":"AllowManageOwnPasswords","Effect":"Allow","Action":["iam:ChangePassword","iam:GetUser"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnAccessKeys","Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeleteAccessKey","iam:ListAccessKeys","iam:UpdateAccessKey"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnSigningCertificates","Effect":"Allow","Action":["iam:DeleteSigningCertificate","iam:ListSigningCertificates","iam:UpdateSigningCertificate","iam:UploadSigningCertificate"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnSSHPublicKeys","Effect":"Allow","Action":["iam:DeleteSSHPublicKey","iam:GetSSHPublicKey","iam:ListSSHPublicKeys","iam:UpdateSSHPublicKey","iam:UploadSSHPublicKey"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnGitCredentials","Effect":"Allow","Action":["iam:CreateServiceSpecificCredential","iam:DeleteServiceSpecificCredential","iam:ListServiceSpecificCredentials","iam:ResetServiceSpecificCredential","iam:UpdateServiceSpecificCredential"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnVirtualMFADevice","Effect":"Allow","Action":["iam:CreateVirtualMFADevice","iam:DeleteVirtualMFADevice"],"Resource":"arn:aws:iam::*:mfa/${aws:username}"},
              {"Sid":"AllowManageOwnUserMFA","Effect":"Allow","Action":["iam:DeactivateMFADevice","iam:EnableMFADevice","iam:ListMFADevices","iam:ResyncMFADevice"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"DenyAllExceptListedIfNoMFA","Effect":"Deny","NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ListVirtualMFADevices","iam:ResyncMFADevice","sts:GetSessionToken"],"Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"BooleanConditionOperations_Strings_And_Booleans","Action":"kms:CreateGrant","Condition":{"Bool":{"kms:GrantIsForAWSResource":true},"ForAllValues:Bool":{"kms:GrantIsForAWSResource":false},"ForAnyValue:Bool":{"kms:GrantIsForAWSResource":"True"}},"Effect":"Allow","Resource":["arn:aws:kms:*:123456789012:key/*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"NullConditionOperator_Strings_And_Booleans","Action":"kms:CreateGrant","Condition":{"Null":{"kms:EncryptionContextKeys":false,"kms:GrantOperations":"true"}},"Effect":"Allow","Resource":["arn:aws:kms:*:123456789012:key/*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"NullResource","Action":"kms:CreateGrant","Effect":"Allow","Resource":["arn:aws:kms:*:123456789012:key/*",null]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"ListAndDescribe","Effect":"Allow","Action":["dynamodb:List*","dynamodb:DescribeReservedCapacity*","dynamodb:DescribeLimits","dynamodb:DescribeTimeToLive"],"Resource":"*"},
              {"Sid":"SpecificTable","Effect":"Allow","Action":["dynamodb:BatchGet*","dynamodb:DescribeStream","dynamodb:DescribeTable","dynamodb:Get*","dynamodb:Query","dynamodb:Scan","dynamodb:BatchWrite*","dynamodb:CreateTable","dynamodb:Delete*","dynamodb:Update*","dynamodb:PutItem"],"Resource":"arn:aws:dynamodb:*:*:table/MyTable"}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":["ec2:AttachVolume","ec2:DetachVolume"],"Resource":["arn:aws:ec2:*:*:volume/*","arn:aws:ec2:*:*:instance/*"],"Condition":{"ArnEquals":{"ec2:SourceInstanceARN":"arn:aws:ec2:*:*:instance/instance-id"}}}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":["ec2:AttachVolume","ec2:DetachVolume"],"Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"ec2:ResourceTag/Department":"Development"}}},
              {"Effect":"Allow","Action":["ec2:AttachVolume","ec2:DetachVolume"],"Resource":"arn:aws:ec2:*:*:volume/*","Condition":{"StringEquals":{"ec2:ResourceTag/VolumeUser":"${aws:username}"}}}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"StartStopIfTags","Effect":"Allow","Action":["ec2:StartInstances","ec2:StopInstances","ec2:DescribeTags"],"Resource":"arn:aws:ec2:region:account-id:instance/*","Condition":{"StringEquals":{"ec2:ResourceTag/Project":"DataAnalytics","aws:PrincipalTag/Department":"Data"}}}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"ListYourObjects","Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:aws:s3:::bucket-name"],"Condition":{"StringLike":{"s3:prefix":["cognito/application-name/${cognito-identity.amazonaws.com:sub}"]}}},
              {"Sid":"ReadWriteDeleteYourObjects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::bucket-name/cognito/application-name/${cognito-identity.amazonaws.com:sub}","arn:aws:s3:::bucket-name/cognito/application-name/${cognito-identity.amazonaws.com:sub}/*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":["s3:ListAllMyBuckets","s3:GetBucketLocation"],"Resource":"*"},
              {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket-name","Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:userid}/*"]}}},
              {"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::bucket-name/home/${aws:userid}","arn:aws:s3:::bucket-name/home/${aws:userid}/*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"ConsoleAccess","Effect":"Allow","Action":["s3:GetAccountPublicAccessBlock","s3:GetBucketAcl","s3:GetBucketLocation","s3:GetBucketPolicyStatus","s3:GetBucketPublicAccessBlock","s3:ListAllMyBuckets"],"Resource":"*"},
              {"Sid":"ListObjectsInBucket","Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:aws:s3:::bucket-name"]},
              {"Sid":"AllObjectActions","Effect":"Allow","Action":"s3:*Object","Resource":["arn:aws:s3:::bucket-name/*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"AllowViewAccountInfo","Effect":"Allow","Action":["iam:GetAccountPasswordPolicy","iam:GetAccountSummary"],"Resource":"*"},
              {"Sid":"AllowManageOwnPasswords","Effect":"Allow","Action":["iam:ChangePassword","iam:GetUser"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnAccessKeys","Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeleteAccessKey","iam:ListAccessKeys","iam:UpdateAccessKey"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnSigningCertificates","Effect":"Allow","Action":["iam:DeleteSigningCertificate","iam:ListSigningCertificates","iam:UpdateSigningCertificate","iam:UploadSigningCertificate"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnSSHPublicKeys","Effect":"Allow","Action":["iam:DeleteSSHPublicKey","iam:GetSSHPublicKey","iam:ListSSHPublicKeys","iam:UpdateSSHPublicKey","iam:UploadSSHPublicKey"],"Resource":"arn:aws:iam::*:user/${aws:username}"},
              {"Sid":"AllowManageOwnGitCredentials","Effect":"Allow","Action":["iam:CreateServiceSpecificCredential","iam:DeleteServiceSpecificCredential","iam:ListServiceSpecificCredentials","iam:ResetServiceSpecificCredential","iam:UpdateServiceSpecificCredential"],"Resource":"arn:aws:iam::*:user/${aws:username}"}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Action":"ec2:*","Resource":"*","Effect":"Allow","Condition":{"StringEquals":{"ec2:Region":"region"}}}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"rds:*","Resource":["arn:aws:rds:region:*:*"]},
              {"Effect":"Allow","Action":["rds:Describe*"],"Resource":["*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"","Effect":"Allow","Action":"rds:*","Resource":["arn:aws:rds:region:*:*"]},
              {"Sid":"","Effect":"Allow","Action":["rds:Describe*"],"Resource":["*"]}
            ]}"#, Managed, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[
              {"Sid":"","Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:us-west-2:123456789012:accesspoint/my-access-point","arn:aws:s3:us-west-2:123456789012:accesspoint/my-access-point/object/*"]}
            ]}"#, Managed, Ok(())),
        // Inline policies (Identity) need no Version; managed ones do.
        (r#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#, Identity, Ok(())),
        (r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#, Identity, Ok(())),
        (r#"{"Statement":{"Effect":"denY","Action":"s3:ListBucket","Resource":"*"}}"#, Identity, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, ServiceControl, Ok(())),
        // What Rampart refused and IAM accepts.
        (r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"","Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":[null]}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":":ListBucket","Resource":"*"}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"nokey":"x"}}}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:EpochTime":[2000000000,"2030-01-01"]}}}}"#, Identity, Ok(())),
        // Beyond IAM's checks: a `-hh:mm` zone is read.
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00-05:00"}}}}"#, Identity, Ok(())),
        // IAM's grammar, and its order, beyond moto's cases.
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"i*:List*","Resource":"*"}}"#, Identity, Err("Vendor i* is not valid")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*:List*","Resource":"*"}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"${aws:TokenIssueTime}"}}}}"#, Identity, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":true}}}}"#, Identity, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:EpochTime":"1.5"}}}}"#, Identity, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"a":null}}}}"#, Identity, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*",null],"Resource":"*"}}"#, Identity, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":{"Id":"x","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#, Identity, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}"#, Identity, Err("Policy statement must contain resources.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam::*:*"}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:iam::*:root"}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:GetDelegationRequest","Resource":"arn:aws:iam::111122223333:delegation-request/*"}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam::1:rooted"}}"#, Identity, Err("IAM resource path must either be \"*\" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:*:*:access-grants/default/grant/*"}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:*:*:bucket"}}"#, Identity, Err("Resource arn:aws:s3:*:*:bucket can not contain region information.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::a","arn:aws-cn:s3:::b","arn:aws-us-gov:s3:::c","arn:*:s3:::d"]}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam:::x"},{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws::s3"}]}"#, Identity, Err("IAM resource path must either be \"*\" or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/.")),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws::s3"},{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam:::x"}]}"#, Identity, Err("The policy failed legacy parsing")),
        (r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"s3:*","Resource":"bad"}]}"#, Identity, Err("Statement IDs (SID) in a single policy must be unique.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"GetUser","Resource":"bad"}}"#, Identity, Err("Resource bad must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLikeish":{"a:b":"c"}}}}"#, Identity, Err("Syntax errors in policy.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLikeish":{}}}}"#, Identity, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"NotPrincipal":{"AWS":"*"},"Action":"s3:*","Resource":"*"}}"#, Resource, Err("Syntax errors in policy.")),
        // Rampart's own refusals, after IAM's checks.
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arm:aws:s3:::b"}}"#, Identity, Err("Resource arm:aws:s3:::b must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"a:b":"true"}}}}"#, Identity, Err("Invalid Condition type : NullIfExists.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}}}"#, Identity, Err("Invalid IpAddress in condition value: 300.1.1.1")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#, Identity, Err("Policy document should not specify a principal.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#, Managed, Err("Policy document should not specify a principal.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#, Resource, Err("Policy document should specify a principal.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"s3:*","Resource":"*"}}"#, Resource, Err("Invalid principal in policy: \"Bogus\"")),
        // Role trust policies.
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#, Trust, Ok(())),
        (r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}"#, Trust, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:saml-provider/corp"},"Action":["sts:AssumeRoleWithSAML","sts:TagSession"]}}"#, Trust, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/x"},"Action":"sts:AssumeRoleWithWebIdentity"}}"#, Trust, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:SetContext"]}}"#, Trust, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"STS:assumerole"}}"#, Trust, Ok(())),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":["sts:BadAssumeRole"]}]}"#, Trust, Err("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:*"}}"#, Trust, Err("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*"}}"#, Trust, Err("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"NotAction":"s3:*"}}"#, Trust, Err("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity")),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":["sts:AssumeRole"],"Resource":"arn:aws:s3:::example_bucket"}]}"#, Trust, Err("Has prohibited field Resource.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","NotResource":"*"}}"#, Trust, Err("Has prohibited field Resource.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}}"#, Trust, Err("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Resource":"bad"}}"#, Trust, Err("Resource bad must be in ARN format or \"*\".")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#, Trust, Err("Policy document should specify a principal.")),
        (r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}}"#, Trust, Err("The policy failed legacy parsing")),
        ("new policy", Trust, Err("Syntax errors in policy.")),
    ];
    let mut wrong = Vec::new();
    for (document, kind, want) in cases {
        let got = Policy::parse(document, *kind).map(|_| ()).map_err(|PolicyError::Malformed(m)| m);
        if got.as_ref().map(|_| ()).map_err(String::as_str) != *want {
            wrong.push(format!("{kind:?} {document}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn dates_are_read_as_iam_reads_them() {
    use crate::condition::{read_date, DateValue};
    const MS: i128 = 1_000_000;
    let at = |ms: i128| DateValue::At(ms * MS);
    let cases = [
        ("2019-07-01T13:20:15Z", at(1_561_987_215_000)),
        ("1561987215", at(1_561_987_215_000)),
        ("2019-07-01", at(1_561_939_200_000)),
        ("2019-07-01T13:20", at(1_561_987_200_000)),
        ("2016-12-13T21:20:37.593194+00:00", DateValue::At(1_481_664_037_593_194_000)),
        // 02:00:00.593194 at +23:00 is 03:00:00.593194 UTC the day before.
        ("2016-12-13t2:00:00.593194+23", DateValue::At(1_481_511_600_593_194_000)),
        ("2030-01-01T00:00:00-05:30", at(1_893_475_800_000)),
        ("2030-01-01T00:00:00+05:30", at(1_893_436_200_000)),
        ("01T", at(-62_135_596_800_000)),
        ("2016-02-29", at(1_456_704_000_000)),
        ("9223372036854775807", DateValue::At(9_223_372_036_854_775_807 * 1_000 * MS)),
        // Accepted by IAM, but no instant Rampart can be sure of.
        ("2015-02-29", DateValue::Unreadable),
        ("2016-04-31T00:00:00Z", DateValue::Unreadable),
        ("2016-12-13T12:00:00:99", DateValue::Unreadable),
        ("2016-12-13T12:00:00+10:5x", DateValue::Unreadable),
        ("2016-12-13T12:00:00. 5", DateValue::Unreadable),
        // Refused by IAM.
        ("sdfdsf", DateValue::Invalid),
        ("", DateValue::Invalid),
        ("234-13", DateValue::Invalid),
        ("2016-12-13t2:00:00.593194+1", DateValue::Invalid),
        ("2016-12-13t2:00:00.1999999999+10:59", DateValue::Invalid),
        ("9223372036854775808", DateValue::Invalid),
        ("2019-07-01T13:20Z", DateValue::Invalid),
        ("2019-07-01-01", DateValue::Invalid),
        ("-292275055", DateValue::Invalid),
        ("1.5", DateValue::Invalid),
    ];
    for (text, want) in cases {
        assert_eq!(read_date(text), want, "{text}");
    }
    assert!(matches!(read_date("-292275054"), DateValue::At(t) if t < 0));
    assert!(matches!(read_date("292278993-12-31T23:59:59Z"), DateValue::At(t) if t > 0));
}

/// A Date value IAM accepts but Rampart cannot read makes its condition
/// false in an Allow statement and true in a Deny statement, whatever the
/// request: it never grants what some reading would refuse, nor lifts a Deny
/// some reading would apply.
#[test]
fn an_unreadable_date_never_widens_an_allow_nor_narrows_a_deny() {
    let admin = stmt("Allow", "*", "*", "");
    let times: [&[(&str, &str)]; 3] =
        [&[("aws:CurrentTime", "2000-01-01T00:00:00Z")], &[("aws:CurrentTime", "2030-01-01T00:00:00Z")], &[]];
    for operator in ["DateLessThan", "DateGreaterThan", "DateNotEquals", "DateEqualsIfExists"] {
        let when = format!(r#"{{"{operator}":{{"aws:CurrentTime":["2016-02-31","2020-01-01"]}}}}"#);
        let allow = stmt("Allow", "*", "*", &when);
        let deny = stmt("Deny", "*", "*", &when);
        for pairs in times {
            assert!(!allowed(&[&allow], "s3:GetObject", "*", pairs), "{when} with {pairs:?}");
            assert!(
                matches!(decide(&[&admin, &deny], "s3:GetObject", "*", pairs), Decision::ExplicitDeny { .. }),
                "{when} with {pairs:?}"
            );
        }
    }
    // Lenient values that can be read are evaluated as written.
    let lenient = stmt("Allow", "*", "*", r#"{"DateGreaterThan":{"aws:CurrentTime":"01T"}}"#);
    assert!(allowed(&[&lenient], "s3:GetObject", "*", &[("aws:CurrentTime", "2026-01-01T00:00:00Z")]));
    let zoned = stmt("Allow", "*", "*", r#"{"DateLessThan":{"aws:CurrentTime":"2016-12-13t2:00:00+23"}}"#);
    assert!(allowed(&[&zoned], "s3:GetObject", "*", &[("aws:CurrentTime", "2016-12-12T02:59:59Z")]));
    assert!(!allowed(&[&zoned], "s3:GetObject", "*", &[("aws:CurrentTime", "2016-12-12T03:00:00Z")]));
}

/// Properties over every combination of a small pool of statements: the
/// order of policies never matters, and adding an Allow never lifts a Deny.
#[test]
fn order_never_matters_and_allow_never_lifts_a_deny() {
    let pool = [
        stmt("Allow", "iam:*", "*", ""),
        stmt("Deny", "iam:Delete*", "*", ""),
        stmt("Allow", "*", "arn:aws:iam::1:user/${aws:username}", ""),
        stmt("Deny", "*", "*", r#"{"Bool":{"aws:SecureTransport":"false"}}"#),
        stmt("Allow", "s3:*", "*", r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
    ];
    let requests = [
        ("iam:DeleteUser", "arn:aws:iam::1:user/bob"),
        ("iam:GetUser", "arn:aws:iam::1:user/bob"),
        ("s3:GetObject", "arn:aws:s3:::b/k"),
    ];
    let contexts: [&[(&str, &str)]; 2] = [
        &[("aws:username", "bob"), ("aws:SecureTransport", "true"), ("aws:SourceIp", "10.1.1.1")],
        &[("aws:SecureTransport", "false")],
    ];
    for mask in 0u32..(1 << pool.len()) {
        let chosen: Vec<&str> =
            pool.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| s.as_str()).collect();
        let reversed: Vec<&str> = chosen.iter().rev().copied().collect();
        for (action, resource) in requests {
            for pairs in contexts {
                let d = decide(&chosen, action, resource, pairs);
                assert_eq!(d.is_allowed(), decide(&reversed, action, resource, pairs).is_allowed(), "{chosen:?}");
                if !d.is_allowed() && matches!(d, Decision::ExplicitDeny { .. }) {
                    let mut more = chosen.clone();
                    let admin = stmt("Allow", "*", "*", "");
                    more.push(&admin);
                    assert!(!allowed(&more, action, resource, pairs), "an Allow lifted a Deny: {chosen:?}");
                }
            }
        }
    }
}

fn resource_policy(json: &str) -> Policy {
    Policy::parse(json, PolicyKind::Resource).unwrap_or_else(|e| panic!("{e}: {json}"))
}

const ALICE: Caller<'static> = Caller {
    arn: "arn:aws:iam::111122223333:user/alice",
    account: "111122223333",
    role_arn: None,
    service: None,
    federated: None,
};
const SESSION: Caller<'static> = Caller {
    arn: "arn:aws:sts::111122223333:assumed-role/Reader/s1",
    account: "111122223333",
    role_arn: Some("arn:aws:iam::111122223333:role/Reader"),
    service: None,
    federated: None,
};
const BOB_ELSEWHERE: Caller<'static> = Caller {
    arn: "arn:aws:iam::444455556666:user/bob",
    account: "444455556666",
    role_arn: None,
    service: None,
    federated: None,
};

/// A service principal is named by its Service entry or `AWS: *` only —
/// never by an ARN, its account, or a string equal to its caller ARN.
#[test]
fn service_principals_are_named_by_service_entries_only() {
    let cloudtrail = Caller {
        arn: "cloudtrail.amazonaws.com",
        account: "111122223333",
        role_arn: None,
        service: Some("cloudtrail.amazonaws.com"),
        federated: None,
    };
    let ctx = Context::new();
    for (principal, want) in [
        (r#"{"Service":"cloudtrail.amazonaws.com"}"#, true),
        (r#"{"Service":["s3.amazonaws.com","cloudtrail.amazonaws.com"]}"#, true),
        (r#""*""#, true),
        (r#"{"AWS":"*"}"#, true),
        (r#"{"Service":"s3.amazonaws.com"}"#, false),
        (r#"{"AWS":"cloudtrail.amazonaws.com"}"#, false),
        (r#"{"AWS":"111122223333"}"#, false),
        (r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, false),
    ] {
        let policy = resource_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"kms:GenerateDataKey","Resource":"*"}}}}"#
        ));
        let set = PolicySet {
            resource: vec![PolicyRef { name: "key", policy: &policy }],
            resource_required: true,
            ..Default::default()
        };
        let request = Request {
            action: "kms:GenerateDataKey",
            resource: "arn:aws:kms:us-east-1:111122223333:key/k",
            context: &ctx,
            caller: Some(cloudtrail),
            resource_account: Some("111122223333"),
        };
        assert_eq!(evaluate(&request, &set).is_allowed(), want, "{principal}");
    }
}

/// (caller, resource account, identity allows, resource policy principal,
/// resource policy required, expected).
type ResourceCase<'a> = (Caller<'a>, &'a str, bool, Option<&'a str>, bool, bool);

/// The scenarios of AWS's "Cross-account policy evaluation logic" and
/// "Policy evaluation logic" pages.
#[test]
fn resource_based_policies_within_and_across_accounts() {
    let identity = policy(&stmt("Allow", "s3:GetObject", "*", ""));
    let grant = |principal: &str| {
        resource_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"s3:GetObject","Resource":"*"}}}}"#
        ))
    };
    let cases: &[ResourceCase] = &[
        // Same account: a grant to the user's own ARN is enough without any identity policy.
        (ALICE, "111122223333", false, Some("arn:aws:iam::111122223333:user/alice"), false, true),
        // ...but a grant to the account delegates to identity policies.
        (ALICE, "111122223333", false, Some("arn:aws:iam::111122223333:root"), false, false),
        (ALICE, "111122223333", true, Some("111122223333"), false, true),
        // A grant to a role ARN does not by itself cover its sessions.
        (SESSION, "111122223333", false, Some("arn:aws:iam::111122223333:role/Reader"), false, false),
        (SESSION, "111122223333", false, Some("arn:aws:sts::111122223333:assumed-role/Reader/s1"), false, true),
        // Across accounts both sides must allow.
        (BOB_ELSEWHERE, "111122223333", true, None, false, false),
        (BOB_ELSEWHERE, "111122223333", false, Some("arn:aws:iam::444455556666:user/bob"), false, false),
        (BOB_ELSEWHERE, "111122223333", true, Some("arn:aws:iam::444455556666:user/bob"), false, true),
        (BOB_ELSEWHERE, "111122223333", true, Some("444455556666"), false, true),
        (BOB_ELSEWHERE, "111122223333", true, Some("*"), false, true),
        // Key policies and trust policies must allow even within the account.
        (ALICE, "111122223333", true, None, true, false),
        (ALICE, "111122223333", true, Some("arn:aws:iam::111122223333:root"), true, true),
        (ALICE, "111122223333", false, Some("arn:aws:iam::111122223333:root"), true, false),
        (ALICE, "111122223333", false, Some("arn:aws:iam::111122223333:user/alice"), true, true),
    ];
    let ctx = Context::new();
    for (caller, owner, identity_allows, principal, required, want) in cases {
        let resource = principal.map(grant);
        let set = PolicySet {
            identity: if *identity_allows { vec![PolicyRef { name: "id", policy: &identity }] } else { vec![] },
            resource: resource.iter().map(|p| PolicyRef { name: "bucket", policy: p }).collect(),
            resource_required: *required,
            ..Default::default()
        };
        let request = Request {
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            context: &ctx,
            caller: Some(*caller),
            resource_account: Some(owner),
        };
        assert_eq!(
            evaluate(&request, &set).is_allowed(),
            *want,
            "{} on {owner}'s resource, identity {identity_allows}, principal {principal:?}, required {required}",
            caller.arn
        );
    }
}

/// A web identity or SAML subject is named only by a `Federated` principal
/// naming its provider (IAM's "Creating a role for web identity or OpenID
/// Connect federation"): not by its account, nor by `AWS: *`.
#[test]
fn federated_callers_are_named_only_by_their_provider() {
    const PROVIDER: &str = "arn:aws:iam::111122223333:oidc-provider/issuer.example.com";
    let web_user =
        Caller { arn: PROVIDER, account: "111122223333", role_arn: None, service: None, federated: Some(PROVIDER) };
    let trust = |principal: &str, condition: &str| {
        let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
        Policy::parse(
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRoleWithWebIdentity"{condition}}}]}}"#
            ),
            PolicyKind::Trust,
        )
        .unwrap_or_else(|e| panic!("{e}: {principal}"))
    };
    let sub = |value: &str| context(&[("issuer.example.com:sub", value)]);
    let cases: &[(&str, &str, Context, Caller<'_>, bool)] = &[
        (&format!(r#"{{"Federated":"{PROVIDER}"}}"#), "", Context::new(), web_user, true),
        (
            r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/other.example.com"}"#,
            "",
            Context::new(),
            web_user,
            false,
        ),
        (r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/*"}"#, "", Context::new(), web_user, false),
        (r#""*""#, "", Context::new(), web_user, false),
        (r#"{"AWS":"*"}"#, "", Context::new(), web_user, false),
        (r#"{"AWS":"111122223333"}"#, "", Context::new(), web_user, false),
        (r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, "", Context::new(), web_user, false),
        // ...and an IAM caller is never named by a Federated principal.
        (&format!(r#"{{"Federated":"{PROVIDER}"}}"#), "", Context::new(), ALICE, false),
        // The token's claims are condition keys.
        (
            &format!(r#"{{"Federated":"{PROVIDER}"}}"#),
            r#"{"StringEquals":{"issuer.example.com:sub":"alice"}}"#,
            sub("alice"),
            web_user,
            true,
        ),
        (
            &format!(r#"{{"Federated":"{PROVIDER}"}}"#),
            r#"{"StringEquals":{"issuer.example.com:sub":"alice"}}"#,
            sub("mallory"),
            web_user,
            false,
        ),
        (
            &format!(r#"{{"Federated":"{PROVIDER}"}}"#),
            r#"{"StringEquals":{"issuer.example.com:sub":"alice"}}"#,
            Context::new(),
            web_user,
            false,
        ),
    ];
    for (principal, condition, ctx, caller, want) in cases {
        let policy = trust(principal, condition);
        let set = PolicySet {
            resource: vec![PolicyRef { name: "trust", policy: &policy }],
            resource_required: true,
            ..Default::default()
        };
        let request = Request {
            action: "sts:AssumeRoleWithWebIdentity",
            resource: "arn:aws:iam::111122223333:role/web",
            context: ctx,
            caller: Some(*caller),
            resource_account: Some("111122223333"),
        };
        assert_eq!(evaluate(&request, &set).is_allowed(), *want, "{principal} {condition} for {}", caller.arn);
    }
    // NotPrincipal exempts a federated caller only by its provider.
    let deny_others = resource_policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity"}},
            {{"Effect":"Deny","NotPrincipal":{{"AWS":"*"}},"Action":"sts:*","Resource":"*"}}]}}"#
    ));
    let set = PolicySet { resource: vec![PolicyRef { name: "trust", policy: &deny_others }], ..Default::default() };
    let ctx = Context::new();
    let request = Request {
        action: "sts:AssumeRoleWithWebIdentity",
        resource: "arn:aws:iam::111122223333:role/web",
        context: &ctx,
        caller: Some(web_user),
        resource_account: Some("111122223333"),
    };
    assert!(!evaluate(&request, &set).is_allowed(), "NotPrincipal AWS:* does not exempt a federated caller");
}

#[test]
fn not_principal_denies_everyone_else() {
    let bucket = resource_policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    let ctx = Context::new();
    let set = PolicySet { resource: vec![PolicyRef { name: "bucket", policy: &bucket }], ..Default::default() };
    let ask = |caller| Request {
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        context: &ctx,
        caller: Some(caller),
        resource_account: Some("111122223333"),
    };
    // Listing the user without its account exempts nobody (AWS's docs: the
    // account must be listed too, or the whole account is denied).
    let denied = |d: Decision| matches!(d, Decision::ExplicitDeny { source: Source::Resource, .. });
    assert!(denied(evaluate(&ask(ALICE), &set)));
    assert!(denied(evaluate(&ask(SESSION), &set)));

    let with_account = resource_policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","111122223333",
              "arn:aws:iam::111122223333:role/Reader"]},"Action":"s3:*","Resource":"*"}]}"#,
    );
    let set = PolicySet { resource: vec![PolicyRef { name: "bucket", policy: &with_account }], ..Default::default() };
    assert!(evaluate(&ask(ALICE), &set).is_allowed());
    // A session is exempt only if the session itself is listed too.
    assert!(denied(evaluate(&ask(SESSION), &set)));
    assert!(denied(evaluate(&ask(BOB_ELSEWHERE), &set)));
}

#[test]
fn service_control_policies_bound_every_level() {
    let admin = policy(&stmt("Allow", "*", "*", ""));
    let full = policy(&stmt("Allow", "*", "*", ""));
    let no_iam = policy(&stmt("Deny", "iam:*", "*", ""));
    let only_s3 = policy(&stmt("Allow", "s3:*", "*", ""));
    let ctx = Context::new();
    let decide = |levels: Vec<Vec<PolicyRef>>, action| {
        let set = PolicySet {
            identity: vec![PolicyRef { name: "admin", policy: &admin }],
            scps: levels,
            ..Default::default()
        };
        evaluate(&Request::identity(action, "*", &ctx), &set)
    };
    let root = || vec![PolicyRef { name: "FullAWSAccess", policy: &full }];
    assert!(decide(vec![root()], "iam:CreateUser").is_allowed());
    assert!(matches!(
        decide(vec![root(), vec![PolicyRef { name: "NoIam", policy: &no_iam }]], "iam:CreateUser"),
        Decision::ExplicitDeny { source: Source::ServiceControl, .. }
    ));
    // Every level must allow: an OU that allows only S3 bounds the account.
    let ou = vec![PolicyRef { name: "OnlyS3", policy: &only_s3 }];
    assert!(decide(vec![root(), ou.clone()], "s3:GetObject").is_allowed());
    assert_eq!(
        decide(vec![root(), ou], "ec2:RunInstances"),
        Decision::ImplicitDeny { missing: Source::ServiceControl }
    );
}

#[test]
fn session_policies_limit_a_role_session() {
    let role = policy(&stmt("Allow", "*", "*", ""));
    let session = policy(&stmt("Allow", "s3:Get*", "*", ""));
    let ctx = Context::new();
    let set = PolicySet {
        identity: vec![PolicyRef { name: "role", policy: &role }],
        session: vec![PolicyRef { name: "session", policy: &session }],
        ..Default::default()
    };
    assert!(evaluate(&Request::identity("s3:GetObject", "*", &ctx), &set).is_allowed());
    assert_eq!(
        evaluate(&Request::identity("s3:PutObject", "*", &ctx), &set),
        Decision::ImplicitDeny { missing: Source::Session }
    );
}

#[test]
fn the_action_index_keeps_every_statement_that_could_match_in_order() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":["iam:GetUser","s3:PutObject"],"Resource":"*"},
            {"Effect":"Allow","Action":"*:List*","Resource":"*"},
            {"Effect":"Allow","NotAction":"s3:*","Resource":"*"},
            {"Effect":"Allow","Action":"IAM:Delete*","Resource":"*"}]}"#,
    );
    assert_eq!(p.index.candidates("iam"), vec![1, 2, 3, 4, 5]);
    assert_eq!(p.index.candidates("s3"), vec![0, 1, 2, 3, 4]);
    assert_eq!(p.index.candidates("kms"), vec![1, 3, 4]);
}
