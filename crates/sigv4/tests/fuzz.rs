//! Fuzzing the SigV4 parsers on the stable toolchain: arbitrary and
//! almost-valid `Authorization` headers and presigned query strings. Nothing
//! panics; a refusal never quotes a signature back.
//!
//! `RAMPART_FUZZ_CASES=1000000 cargo test --release -p rampart-sigv4 --test fuzz`
//! is the long run.

use proptest::prelude::*;
use rampart_sigv4::{
    canonical_request, parse_authorization_header, parse_presigned_query, string_to_sign, RequestView, SigV4Error,
};

fn config() -> ProptestConfig {
    let cases = std::env::var("RAMPART_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A marker no message may contain: it stands for the signature.
const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request".to_string()),
        Just("Credential=AKID/2015/us-east-1/iam/aws4_request".to_string()),
        Just("Credential=/20150830//iam/x".to_string()),
        Just("SignedHeaders=host;x-amz-date".to_string()),
        Just("SignedHeaders=".to_string()),
        Just(format!("Signature={SIGNATURE}")),
        "[ -~]{0,30}",
    ]
}

fn never_quotes_the_signature(result: Result<impl std::fmt::Debug, SigV4Error>) {
    if let Err(SigV4Error::Incomplete(message) | SigV4Error::HeaderNotSigned(message)) = result {
        assert!(!message.contains(SIGNATURE), "{message}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn authorization_headers(parts in proptest::collection::vec(component(), 0..6), sep in prop_oneof![Just(", "), Just(","), Just(" ")], algorithm in prop_oneof![Just("AWS4-HMAC-SHA256 "), Just(""), Just("AWS ")]) {
        let header = format!("{algorithm}{}", parts.join(sep));
        never_quotes_the_signature(parse_authorization_header(&header));
    }

    #[test]
    fn arbitrary_headers(header in "\\PC{0,200}") {
        let _ = parse_authorization_header(&header);
    }

    #[test]
    fn presigned_queries(pairs in proptest::collection::vec((prop_oneof![
        Just("X-Amz-Algorithm"), Just("X-Amz-Credential"), Just("X-Amz-Date"), Just("X-Amz-Expires"),
        Just("X-Amz-SignedHeaders"), Just("X-Amz-Signature"), Just("X-Amz-Security-Token"), Just("Action"),
    ], "[ -~]{0,40}"), 0..10)) {
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");
        never_quotes_the_signature(parse_presigned_query(&query));
        let _ = parse_presigned_query(&query.replace("AWS4", "AWS4-HMAC-SHA256"));
    }

    #[test]
    fn canonical_requests_of_odd_requests(path in "[ -~]{0,64}", query in "[ -~]{0,64}", value in "[ -~\\t]{0,40}") {
        let header = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-a, Signature=00";
        let params = parse_authorization_header(header).expect("a well-formed header");
        let headers = [("Host", "example.com"), ("X-A", value.as_str()), ("x-a", "second")];
        let view = RequestView { method: "POST", path: &path, query: &query, headers: &headers };
        if let Ok(canonical) = canonical_request(&view, &params, "UNSIGNED-PAYLOAD") {
            let _ = string_to_sign("20150830T123600Z", &params.scope, &canonical);
        }
    }
}
