//! Fuzzing the policy parser on the stable toolchain: arbitrary text and
//! structure-aware documents (deep nesting, odd condition blocks, huge
//! lists). Parsing never panics and answers quickly; whatever parses
//! evaluates without panicking.
//!
//! `RAMPART_FUZZ_CASES=1000000 cargo test --release -p rampart-policy --test fuzz`
//! is the long run.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rampart_policy::{evaluate, Context, Policy, PolicyKind, PolicyRef, PolicySet, Request};

fn config() -> ProptestConfig {
    let cases = std::env::var("RAMPART_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const KINDS: [PolicyKind; 5] =
    [PolicyKind::Identity, PolicyKind::Managed, PolicyKind::Resource, PolicyKind::Trust, PolicyKind::ServiceControl];

fn check(text: &str) {
    for kind in KINDS {
        let started = Instant::now();
        let parsed = Policy::parse(text, kind);
        assert!(started.elapsed() < Duration::from_secs(2), "parsing took {:?}", started.elapsed());
        if let Ok(policy) = parsed {
            let mut context = Context::new();
            context.set("aws:SourceIp", "10.1.2.3");
            context.set("aws:CurrentTime", "2026-01-01T00:00:00Z");
            let set = PolicySet { identity: vec![PolicyRef { name: "p", policy: &policy }], ..Default::default() };
            let _ = evaluate(&Request::identity("iam:GetUser", "arn:aws:iam::123456789012:user/bob", &context), &set);
            let _ = policy.context_keys();
        }
    }
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("\"*\"".to_string()),
        Just("\"iam:*\"".to_string()),
        Just("\"arn:aws:iam::123456789012:user/${aws:username}\"".to_string()),
        Just("\"10.0.0.0/8\"".to_string()),
        Just("\"2026-01-01T00:00:00Z\"".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i32>().prop_map(|i| i.to_string()),
        "\"[ -~]{0,10}\"",
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        let key = prop_oneof![
            Just("Effect"),
            Just("Action"),
            Just("NotAction"),
            Just("Resource"),
            Just("Principal"),
            Just("Condition"),
            Just("StringLike"),
            Just("ForAnyValue:IpAddress"),
            Just("DateLessThanIfExists"),
            Just("aws:SourceIp"),
            Just("Sid"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((key, inner), 0..5).prop_map(|v| {
                let members: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn documents_shaped_like_policies(statement in value(), version in prop_oneof![Just("2012-10-17"), Just("2008-10-17"), Just("x")]) {
        check(&format!("{{\"Version\":\"{version}\",\"Statement\":{statement}}}"));
        check(&format!("{{\"Version\":\"{version}\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{statement}}}]}}"));
    }

    #[test]
    fn deeply_nested_conditions(depth in 0usize..100_000) {
        let nested = format!("{}\"a\"{}", "[".repeat(depth), "]".repeat(depth));
        check(&format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{{\"StringEquals\":{{\"a\":{nested}}}}}}}]}}"));
    }
}
