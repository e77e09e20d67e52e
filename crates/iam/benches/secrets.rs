//! What checking a secret costs: an MFA code at sign-in (three TOTP steps,
//! as GetSessionToken checks them), EnableMFADevice's search for two
//! consecutive codes, and argon2id hashing and verifying a password with the
//! parameters Rampart stores (OWASP's m = 19 MiB, t = 2, p = 1).
#![allow(clippy::unwrap_used, reason = "benchmark set-up: a failure should stop the run")]

use criterion::{criterion_group, criterion_main, Criterion};
use rampart_iam::totp;

fn bench(c: &mut Criterion) {
    let seed = [7u8; 40];
    let step = totp::step_of(1_764_000_000);
    let code = totp::code_at(&seed, step + 1);
    c.bench_function("totp_verify_sign_in_window", |b| {
        b.iter(|| totp::find_step(&seed, step - 1..=step + 1, std::hint::black_box(&code)))
    });
    let (first, second) = (totp::code_at(&seed, step - 1), totp::code_at(&seed, step));
    c.bench_function("totp_enable_two_consecutive_in_10_steps", |b| {
        b.iter(|| {
            (step - 10..=step)
                .filter(|s| totp::matches(&seed, *s, &first))
                .find(|s| totp::matches(&seed, s + 1, std::hint::black_box(&second)))
        })
    });
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("hash_password", |b| b.iter(|| rampart_iam::hash_password("Correct-Horse-9")));
    let hash = rampart_iam::hash_password("Correct-Horse-9").unwrap();
    group.bench_function("verify_password", |b| {
        b.iter(|| rampart_iam::password_matches(&hash, std::hint::black_box("Correct-Horse-9")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
