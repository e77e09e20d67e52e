//! Cost of each KMS key spec's signature and verification, and of a
//! symmetric Encrypt/Decrypt of 1 KiB (the cryptography alone, without the
//! pipeline; `bench/kms.sh` measures whole calls).
#![allow(clippy::unwrap_used, reason = "benchmark set-up: a failure should stop the run")]

use criterion::{criterion_group, criterion_main, Criterion};
use rampart_kms::crypto::{self, BlobKey, KeySpec, KeyUsage, Material};

fn bench(c: &mut Criterion) {
    let message = [7u8; 1024];
    for spec in KeySpec::ALL.into_iter().filter(|s| s.is_asymmetric()) {
        let material = Material::generate(spec).unwrap();
        let algorithm = spec.signing_algorithms(KeyUsage::SignVerify).first().copied().unwrap();
        let signature = crypto::sign(&material, spec, algorithm, &message, false).unwrap();
        c.bench_function(&format!("sign_{}_{algorithm}", spec.name()), |b| {
            b.iter(|| crypto::sign(&material, spec, algorithm, &message, false).unwrap())
        });
        c.bench_function(&format!("verify_{}_{algorithm}", spec.name()), |b| {
            b.iter(|| assert!(crypto::verify(&material, spec, algorithm, &message, false, &signature).unwrap()))
        });
    }
    let material = Material::generate(KeySpec::SymmetricDefault).unwrap();
    let key = BlobKey {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        version: 1,
    };
    let context = vec![("purpose".to_string(), "bench".to_string())];
    let blob = crypto::seal_symmetric(&material, &key, &message, &context).unwrap();
    c.bench_function("encrypt_symmetric_1KiB", |b| {
        b.iter(|| crypto::seal_symmetric(&material, &key, &message, &context).unwrap())
    });
    c.bench_function("decrypt_symmetric_1KiB", |b| {
        b.iter(|| {
            let parsed = crypto::parse_blob(&blob).unwrap();
            crypto::open_symmetric(&material, &parsed, &context).unwrap()
        })
    });
    let hmac = Material::generate(KeySpec::Hmac256).unwrap();
    c.bench_function("generate_mac_HMAC_256_1KiB", |b| {
        b.iter(|| crypto::mac(&hmac, KeySpec::Hmac256, "HMAC_SHA_256", &message).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
