//! Cost of verifying one header-signed request (what every API call pays),
//! with the signing key cached as the server caches it, and of deriving a key.
#![allow(clippy::unwrap_used, reason = "benchmark set-up: a failure should stop the run")]

use criterion::{criterion_group, criterion_main, Criterion};
use rampart_sigv4::{
    canonical_request, parse_authorization_header, signing_key, string_to_sign, verify_signature, RequestView,
};
use sha2::{Digest, Sha256};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date, Signature=";

fn bench(c: &mut Criterion) {
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let headers = [
        ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("host", "127.0.0.1:4566"),
        ("x-amz-date", "20150830T123600Z"),
    ];
    let view = RequestView { method: "POST", path: "/", query: "", headers: &headers };
    // Sign once to get a valid signature.
    let unsigned = parse_authorization_header(&format!("{AUTH}00")).unwrap();
    let key = signing_key(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &unsigned.scope);
    let hash = hex::encode(Sha256::digest(body));
    let canonical = canonical_request(&view, &unsigned, &hash).unwrap();
    let signature = rampart_sigv4::sign(&key, &string_to_sign("20150830T123600Z", &unsigned.scope, &canonical));
    let header = format!("{AUTH}{signature}");

    c.bench_function("verify_header_signed_request", |b| {
        b.iter(|| {
            let params = parse_authorization_header(&header).unwrap();
            let hash = hex::encode(Sha256::digest(body));
            let canonical = canonical_request(&view, &params, &hash).unwrap();
            let sts = string_to_sign("20150830T123600Z", &params.scope, &canonical);
            verify_signature(&key, &sts, &params.signature).unwrap();
        })
    });
    c.bench_function("derive_signing_key", |b| {
        b.iter(|| signing_key(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &unsigned.scope))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
