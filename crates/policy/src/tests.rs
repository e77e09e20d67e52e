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

#[test]
fn malformed_documents_are_refused_with_iam_wording() {
    let cases = [
        ("not json", "Syntax errors in policy."),
        (r#"{"Version":"2012-10-17"}"#, "Missing required field Statement"),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}}"#,
            "Policy statement must contain resources.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            "Policy statement must contain actions.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#,
            "Invalid effect: Maybe",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"GetUser","Resource":"*"}}"#,
            "must be prefaced by a vendor",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            "should not specify a principal",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"bucket"}}"#,
            "must be in ARN format",
        ),
        (r#"{"Version":"2099-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, "legacy parsing"),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLikeish":{"a:b":"c"}}}}"#,
            "Invalid Condition type",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}}}"#,
            "Invalid",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            "must be unique",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Bogus":1}}"#,
            "Unknown field Bogus",
        ),
    ];
    for (doc, want) in cases {
        match Policy::parse(doc, PolicyKind::Identity) {
            Err(PolicyError::Malformed(m)) => assert!(m.contains(want), "{doc}: {m}"),
            Ok(_) => panic!("accepted: {doc}"),
        }
    }
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    assert!(Policy::parse(trust, PolicyKind::Resource).is_ok());
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

const ALICE: Caller<'static> =
    Caller { arn: "arn:aws:iam::111122223333:user/alice", account: "111122223333", role_arn: None, service: None };
const SESSION: Caller<'static> = Caller {
    arn: "arn:aws:sts::111122223333:assumed-role/Reader/s1",
    account: "111122223333",
    role_arn: Some("arn:aws:iam::111122223333:role/Reader"),
    service: None,
};
const BOB_ELSEWHERE: Caller<'static> =
    Caller { arn: "arn:aws:iam::444455556666:user/bob", account: "444455556666", role_arn: None, service: None };

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
    assert!(evaluate(&ask(ALICE), &set).is_allowed());
    assert!(matches!(evaluate(&ask(SESSION), &set), Decision::ExplicitDeny { source: Source::Resource, .. }));
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
            {"Effect":"Allow","Action":"i*:List*","Resource":"*"},
            {"Effect":"Allow","NotAction":"s3:*","Resource":"*"},
            {"Effect":"Allow","Action":"IAM:Delete*","Resource":"*"}]}"#,
    );
    assert_eq!(p.index.candidates("iam"), vec![1, 2, 3, 4, 5]);
    assert_eq!(p.index.candidates("s3"), vec![0, 1, 2, 3, 4]);
    assert_eq!(p.index.candidates("kms"), vec![1, 3, 4]);
}
