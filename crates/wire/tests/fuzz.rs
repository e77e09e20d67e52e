//! Fuzzing the decoders on the stable toolchain: arbitrary bytes and
//! structure-aware mutations (deep keys, many parameters, deep nesting) for
//! every protocol. Nothing may panic, abort or take long; every refusal is a
//! well-formed AWS error.
//!
//! `cargo test -p rampart-wire --test fuzz` runs a short pass;
//! `RAMPART_FUZZ_CASES=1000000 cargo test --release -p rampart-wire --test fuzz`
//! the long one (see BENCHMARKS.md for the last result).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rampart_wire::{decode, encode_error, redact_sensitive, validate, Protocol, ServiceId, WireRequest};

/// Every input is decoded within this (the short pass runs unoptimized too).
const PER_INPUT: Duration = Duration::from_secs(2);

fn cases() -> u32 {
    std::env::var("RAMPART_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

/// Decodes like the pipeline does, then validates, redacts and encodes the
/// error: every step a hostile input reaches.
fn exercise(service: ServiceId, protocol: Protocol, request: &WireRequest<'_>) {
    let started = Instant::now();
    match decode(service, protocol, request) {
        Ok(decoded) => {
            let model = service.model();
            let shape = decoded.operation.input.as_ref().map(|r| r.shape.as_str()).unwrap_or_default();
            let _ = validate(model, shape, &decoded.input);
            let _ = redact_sensitive(model, shape, &decoded.input, &[]);
        }
        Err(error) => {
            assert!(!error.code.is_empty() && error.status >= 400 && error.status < 500, "{error:?}");
            let _ = encode_error(service, protocol, "rid", &error);
        }
    }
    assert!(started.elapsed() < PER_INPUT, "decoding took {:?}", started.elapsed());
}

fn form(body: &[u8], query: &str, service: ServiceId, protocol: Protocol) {
    let request = WireRequest {
        method: "POST",
        path: "/",
        query,
        content_type: Some("application/x-www-form-urlencoded"),
        target: None,
        smithy_protocol: None,
        body,
    };
    exercise(service, protocol, &request);
}

fn json(body: &[u8], target: &str) {
    let request = WireRequest {
        method: "POST",
        path: "/",
        query: "",
        content_type: Some("application/x-amz-json-1.1"),
        target: Some(target),
        smithy_protocol: None,
        body,
    };
    exercise(ServiceId::CloudTrail, Protocol::Json, &request);
}

fn cbor(body: &[u8], operation: &str) {
    let path = format!("/service/GraniteServiceVersion20100801/operation/{operation}");
    let request = WireRequest {
        method: "POST",
        path: &path,
        query: "",
        content_type: Some("application/cbor"),
        target: None,
        smithy_protocol: Some("rpc-v2-cbor"),
        body,
    };
    exercise(ServiceId::Monitoring, Protocol::Cbor, &request);
}

/// A query parameter name: real member names and list/map markers joined by
/// dots, sometimes very many of them.
fn key() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("UserName".to_string()),
        Just("Tags".to_string()),
        Just("member".to_string()),
        Just("entry".to_string()),
        Just("key".to_string()),
        Just("value".to_string()),
        Just("Filter".to_string()),
        Just("Dimensions".to_string()),
        (1u32..5).prop_map(|n| n.to_string()),
        "[A-Za-z.%+=&]{0,6}",
    ];
    prop_oneof![
        proptest::collection::vec(part, 1..12).prop_map(|p| p.join(".")),
        (1usize..40_000).prop_map(|n| vec!["a"; n].join(".")),
    ]
}

fn form_body(action: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec((key(), "[ -~]{0,12}"), 0..40).prop_map(move |pairs| {
        let mut body = format!("Action={action}&Version=2010-05-08");
        for (k, v) in pairs {
            body.push('&');
            body.push_str(&k);
            body.push('=');
            body.push_str(&v);
        }
        body
    })
}

/// Nested JSON: arrays and objects many levels deep, with scalars of every kind.
fn nested_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
        Just("\"\\ud800\"".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "\"[ -~]{0,8}\"",
    ];
    leaf.prop_recursive(8, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(
                (prop_oneof![Just("MaxResults"), Just("LookupAttributes"), Just("StartTime"), Just("x")], inner),
                0..4
            )
            .prop_map(|v| {
                let members: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn query_bodies_of_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        form(&body, "", ServiceId::Iam, Protocol::Query);
        form(&body, "", ServiceId::Ec2, Protocol::Ec2);
    }

    #[test]
    fn query_parameters_shaped_like_requests(body in form_body("CreateUser"), query in form_body("GetUser")) {
        form(body.as_bytes(), "", ServiceId::Iam, Protocol::Query);
        form(b"", &query, ServiceId::Iam, Protocol::Query);
        form(body.as_bytes(), "", ServiceId::Monitoring, Protocol::Query);
        form(body.replace("CreateUser", "DescribeVpcs").as_bytes(), "", ServiceId::Ec2, Protocol::Ec2);
    }

    #[test]
    fn json_bodies_of_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        json(&body, "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents");
    }

    #[test]
    fn json_bodies_nested_and_odd(body in nested_json(), depth in 0usize..100_000) {
        json(body.as_bytes(), "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents");
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        json(deep.as_bytes(), "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents");
    }

    #[test]
    fn cbor_bodies_of_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        cbor(&body, "ListMetrics");
        cbor(&body, "PutMetricData");
    }

    #[test]
    fn cbor_bodies_nested_deeply(depth in 0usize..100_000, head in proptest::collection::vec(any::<u8>(), 0..8)) {
        // 0x81: an array of one item; 0xa1 0x61 0x61: a map of one entry "a".
        let mut body = head;
        body.extend(std::iter::repeat_n(0x81u8, depth));
        cbor(&body, "ListMetrics");
        let mut maps = Vec::new();
        for _ in 0..depth.min(20_000) {
            maps.extend_from_slice(&[0xa1, 0x61, 0x61]);
        }
        cbor(&maps, "ListMetrics");
    }
}

/// The canonical query string SigV4 signs for `query`.
fn signed_query(query: &str) -> String {
    use rampart_sigv4::{canonical_request, AuthParams, CredentialScope, RequestView};
    let params = AuthParams {
        access_key_id: "AKID".into(),
        scope: CredentialScope { date: "20260101".into(), region: "us-east-1".into(), service: "iam".into() },
        signed_headers: vec!["host".into()],
        signature: String::new(),
        presigned_date: None,
        presigned_expires: None,
        presigned_security_token: None,
    };
    let view = RequestView { method: "GET", path: "/", query, headers: &[("host", "h")] };
    let canonical = canonical_request(&view, &params, "").map(|c| c.0).unwrap_or_default();
    canonical.lines().nth(2).unwrap_or_default().to_string()
}

proptest! {
    #![proptest_config(config())]

    /// What a handler reads is what was signed: whenever the decoder accepts
    /// a query string, the value it reads, encoded as SigV4 encodes it, is
    /// the value in the canonical query. (`+` against `%2B` was a way to
    /// change a signed value.)
    #[test]
    fn decoded_values_are_the_signed_values(value in "([a-z+ ~]|%[0-9A-Fa-f]{2}|%2[Bb]|%[g-z])*") {
        let query = format!("Action=GetUser&Version=2010-05-08&UserName={value}");
        let request = WireRequest {
            method: "GET", path: "/", query: &query, content_type: None, target: None, smithy_protocol: None, body: b"",
        };
        if let Ok(decoded) = decode(ServiceId::Iam, Protocol::Query, &request) {
            let read = decoded.input.get("UserName").and_then(|v| v.as_str()).unwrap_or_default();
            let signed = signed_query(&query);
            let expected = format!("UserName={}", rampart_sigv4::uri_encode(read.as_bytes()));
            prop_assert!(signed.split('&').any(|p| p == expected), "{query}: read {read:?}, signed {signed}");
        }
    }
}

#[test]
fn the_reported_inputs_are_refused_quickly() {
    // The review's reproductions: 15,000 dotted parts; 1.7 million parameters.
    let deep = format!("Action=GetCallerIdentity&{}=1", vec!["a"; 15_000].join("."));
    form(deep.as_bytes(), "", ServiceId::Sts, Protocol::Query);
    form(b"", &deep, ServiceId::Sts, Protocol::Query);
    let many: String = (0..1_700_000).map(|i| format!("a{i}=1&")).collect();
    let started = Instant::now();
    form(many.as_bytes(), "", ServiceId::Sts, Protocol::Query);
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
}
