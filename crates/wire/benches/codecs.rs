//! Cost of the wire layer per request: decoding a query-protocol request
//! against its model, validating it, and encoding the XML response.
#![allow(clippy::unwrap_used, reason = "benchmark set-up: a failure should stop the run")]

use criterion::{criterion_group, criterion_main, Criterion};
use rampart_wire::{decode, encode_output, validate, Protocol, ServiceId, WireRequest};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let body = b"Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fteam%2F\
                 &Tags.member.1.Key=team&Tags.member.1.Value=blue";
    let request = WireRequest {
        method: "POST",
        path: "/",
        query: "",
        content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
        target: None,
        smithy_protocol: None,
        body,
    };
    let model = ServiceId::Iam.model();
    c.bench_function("decode_and_validate_iam_create_user", |b| {
        b.iter(|| {
            let d = decode(ServiceId::Iam, Protocol::Query, &request).unwrap();
            assert!(validate(model, "CreateUserRequest", &d.input).is_none());
        })
    });
    let op = model.operation("CreateUser").unwrap();
    let output = json!({"User": {"Path": "/team/", "UserName": "alice", "UserId": "AIDAEXAMPLE0000000000",
        "Arn": "arn:aws:iam::123456789012:user/team/alice", "CreateDate": 1440938160.0}});
    c.bench_function("encode_iam_create_user_xml", |b| {
        b.iter(|| encode_output(ServiceId::Iam, Protocol::Query, op, "rid", &output))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
