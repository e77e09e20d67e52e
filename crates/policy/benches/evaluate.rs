//! Decision time for a principal with 10 policies of 10 statements with
//! conditions, and parse+compile time per KiB of policy.

#![allow(clippy::unwrap_used, reason = "benchmark set-up: a failure should stop the run")]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rampart_policy::{evaluate, Context, Policy, PolicyKind, PolicyRef, PolicySet, Request};

fn document(p: usize) -> String {
    let statements: Vec<String> = (0..10)
        .map(|s| {
            if p == 9 && s == 9 {
                return r#"{"Sid":"Self","Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::123456789012:user/${aws:username}"}"#.to_string();
            }
            format!(
                r#"{{"Sid":"S{p}x{s}","Effect":"{}","Action":["ec2:Describe{p}x{s}*","s3:Get{s}*"],"Resource":"arn:aws:s3:::bucket-{p}/*",
                   "Condition":{{"StringEquals":{{"aws:RequestedRegion":["eu-west-1","eu-central-1"]}},"IpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}}"#,
                if s % 3 == 0 { "Deny" } else { "Allow" }
            )
        })
        .collect();
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
}

fn bench(c: &mut Criterion) {
    let docs: Vec<String> = (0..10).map(document).collect();
    let policies: Vec<Policy> = docs.iter().map(|d| Policy::parse(d, PolicyKind::Identity).unwrap()).collect();
    let names: Vec<String> = (0..10).map(|i| format!("arn:aws:iam::123456789012:policy/p{i}")).collect();
    let set = PolicySet {
        identity: policies.iter().zip(&names).map(|(policy, name)| PolicyRef { name, policy }).collect(),
        boundary: None,
        ..Default::default()
    };
    let mut context = Context::new();
    context.set("aws:username", "bob");
    context.set("aws:SourceIp", "127.0.0.1");
    context.set("aws:RequestedRegion", "us-east-1");
    context.set("aws:SecureTransport", "false");
    let allow = Request::identity("iam:GetUser", "arn:aws:iam::123456789012:user/bob", &context);
    let deny = Request::identity("iam:ListUsers", "arn:aws:iam::123456789012:user/", &context);
    assert!(evaluate(&allow, &set).is_allowed());
    assert!(!evaluate(&deny, &set).is_allowed());
    c.bench_function("decide_10x10_allowed", |b| b.iter(|| evaluate(&allow, &set)));
    c.bench_function("decide_10x10_implicit_deny", |b| b.iter(|| evaluate(&deny, &set)));
    let mut group = c.benchmark_group("parse");
    let first = docs.first().unwrap();
    group.throughput(Throughput::Bytes(first.len() as u64));
    group
        .bench_function("parse_and_compile_policy", |b| b.iter(|| Policy::parse(first, PolicyKind::Identity).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
