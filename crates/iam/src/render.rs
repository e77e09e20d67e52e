//! How IAM's records appear in outputs: the model's `User`, `Group`, `Role`,
//! `InstanceProfile` and `Tag` shapes, and URL-encoded policy documents.

use serde_json::{json, Map, Value};

use rampart_core::{AccountId, OutputMembers};

use crate::aws_managed::AwsManagedPolicy;
use crate::state::{AccountState, Group, InstanceProfile, ManagedPolicy, PolicyVersion, Role, Tag, User};

/// A user as audit records name it.
pub(crate) fn user_resource(name: &str) -> rampart_core::Resource {
    rampart_core::Resource { kind: "AWS::IAM::User".into(), name: name.to_string() }
}

pub(crate) fn user_arn(account: &AccountId, user: &User) -> String {
    rampart_core::iam_arn(account, "user", &user.path, &user.name)
}

/// The `User` shape; `detail` adds what only GetUser and CreateUser return.
pub(crate) fn user_json(account: &AccountId, user: &User, detail: bool) -> Value {
    let mut out = Map::new();
    out.insert("Path".into(), json!(user.path));
    out.insert("UserName".into(), json!(user.name));
    out.insert("UserId".into(), json!(user.user_id));
    out.insert("Arn".into(), json!(user_arn(account, user)));
    out.insert("CreateDate".into(), json!(user.create_date));
    if detail {
        if let Some(boundary) = &user.permissions_boundary {
            out.insert(
                "PermissionsBoundary".into(),
                json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}),
            );
        }
        if !user.tags.is_empty() {
            out.insert("Tags".into(), tags_json(&user.tags));
        }
    }
    Value::Object(out)
}

pub(crate) fn group_json(account: &AccountId, g: &Group) -> Value {
    json!({
        "Path": g.path,
        "GroupName": g.name,
        "GroupId": g.group_id,
        "Arn": rampart_core::iam_arn(account, "group", &g.path, &g.name),
        "CreateDate": g.create_date,
    })
}

pub(crate) fn role_json(account: &AccountId, r: &Role, detail: bool) -> Value {
    let mut out = json!({
        "Path": r.path,
        "RoleName": r.name,
        "RoleId": r.role_id,
        "Arn": rampart_core::iam_arn(account, "role", &r.path, &r.name),
        "CreateDate": r.create_date,
        "AssumeRolePolicyDocument": url_encode(&r.trust_policy),
        "MaxSessionDuration": r.max_session_duration,
    });
    if let Some(d) = &r.description {
        out.set("Description", json!(d));
    }
    if detail {
        if let Some(b) = &r.permissions_boundary {
            out.set("PermissionsBoundary", json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": b}));
        }
        if !r.tags.is_empty() {
            out.set("Tags", tags_json(&r.tags));
        }
        out.set("RoleLastUsed", json!({}));
    }
    out
}

pub(crate) fn instance_profile_arn(account: &AccountId, p: &InstanceProfile) -> String {
    rampart_core::iam_arn(account, "instance-profile", &p.path, &p.name)
}

/// The `InstanceProfile` shape, with its roles as `Role` shapes.
pub(crate) fn instance_profile_json(account: &AccountId, a: &AccountState, p: &InstanceProfile) -> Value {
    let roles: Vec<Value> =
        p.roles.iter().filter_map(|id| a.role_by_id(id)).map(|r| role_json(account, r, false)).collect();
    let mut out = json!({
        "Path": p.path,
        "InstanceProfileName": p.name,
        "InstanceProfileId": p.instance_profile_id,
        "Arn": instance_profile_arn(account, p),
        "CreateDate": p.create_date,
        "Roles": roles,
    });
    if !p.tags.is_empty() {
        out.set("Tags", tags_json(&p.tags));
    }
    out
}

/// Tags as the `Tags` output member lists them.
pub(crate) fn tags_json(tags: &[Tag]) -> Value {
    json!(tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>())
}

/// RFC 3986 percent-encoding: IAM returns policy documents URL-encoded, and
/// the SDKs decode them. Written here because it is one small loop.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which answer a `Policy` shape is for: AWS puts the description in
/// GetPolicy's only, and tags in CreatePolicy's and GetPolicy's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyView {
    Create,
    Get,
    List,
}

/// The `Policy` shape of a customer managed policy.
pub(crate) fn customer_policy_json(
    account: &AccountId,
    p: &ManagedPolicy,
    usage: (usize, usize),
    view: PolicyView,
) -> Value {
    let mut out = policy_json(&p.arn(account), &p.name, &p.path, &p.policy_id, p.create_date, usage);
    out.set("DefaultVersionId", json!(p.default_version));
    out.set("UpdateDate", json!(p.update_date()));
    if let (PolicyView::Get, Some(d)) = (view, &p.description) {
        out.set("Description", json!(d));
    }
    if view == PolicyView::Get || (view == PolicyView::Create && !p.tags.is_empty()) {
        out.set("Tags", tags_json(&p.tags));
    }
    out
}

/// The `Policy` shape of an AWS managed policy.
pub(crate) fn aws_policy_json(p: &AwsManagedPolicy, usage: (usize, usize)) -> Value {
    let mut out = policy_json(&p.arn(), p.name, p.path, p.policy_id, p.create_date, usage);
    out.set("DefaultVersionId", json!(p.default_version));
    out.set("UpdateDate", json!(p.update_date));
    out
}

pub(crate) fn policy_json(arn: &str, name: &str, path: &str, id: &str, created: f64, usage: (usize, usize)) -> Value {
    json!({
        "PolicyName": name,
        "PolicyId": id,
        "Arn": arn,
        "Path": path,
        "DefaultVersionId": "v1",
        "AttachmentCount": usage.0,
        "PermissionsBoundaryUsageCount": usage.1,
        "IsAttachable": true,
        "CreateDate": created,
        "UpdateDate": created,
    })
}

/// An AWS managed policy in the form of a customer one, with its default
/// version only (what Rampart carries of it).
pub(crate) fn aws_policy_view(aws: &AwsManagedPolicy) -> ManagedPolicy {
    let version = PolicyVersion {
        id: aws.default_version.to_string(),
        document: aws.document().to_string(),
        create_date: aws.update_date,
    };
    ManagedPolicy {
        policy_id: aws.policy_id.to_string(),
        name: aws.name.to_string(),
        path: aws.path.to_string(),
        description: None,
        create_date: aws.create_date,
        versions: vec![version],
        default_version: aws.default_version.to_string(),
        // Only read when a version is created, which AWS's policies refuse.
        last_version: 0,
        tags: Vec::new(),
    }
}

pub(crate) fn version_json(p: &ManagedPolicy, v: &PolicyVersion, with_document: bool) -> Value {
    let mut out =
        json!({"VersionId": v.id, "IsDefaultVersion": v.id == p.default_version, "CreateDate": v.create_date});
    if with_document {
        out.set("Document", json!(url_encode(&v.document)));
    }
    out
}
