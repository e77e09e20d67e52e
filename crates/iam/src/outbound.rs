//! Outbound web identity federation: the account's token issuer and the keys
//! STS's GetWebIdentityToken signs with. Enabling the feature gives the
//! account an issuer (`https://UUID.tokens.sts.global.api.aws`, as AWS names
//! it) and two signing keys, RSA-2048 for RS256 and P-384 for ES384, whose
//! private halves are stored only sealed by the node's key wrapper; the
//! public halves are the issuer's JWK set, which the server publishes at
//! `/.well-known/jwks.json` for anyone who verifies the tokens.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rampart_core::{AccountId, AwsError, Call, Outcome};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::{sealing_failed, service_failure};
use crate::Iam;

/// The algorithms GetWebIdentityToken signs with (its `SigningAlgorithm`).
pub const OUTBOUND_ALGORITHMS: &[&str] = &["RS256", "ES384"];

/// The host suffix of AWS's outbound issuers.
pub const OUTBOUND_ISSUER_HOST_SUFFIX: &str = ".tokens.sts.global.api.aws";

/// One of an account's token-signing keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutboundKey {
    pub kid: String,
    /// "RS256" or "ES384".
    pub alg: String,
    /// The PKCS#8 private key, sealed with the context `outbound_key_context`.
    pub sealed_pkcs8: String,
    /// The public key as a JWK (without `kid`, `alg` and `use`).
    pub public_jwk: Value,
}

pub(crate) fn outbound_key_context(account: &str, kid: &str) -> String {
    format!("outbound-token-key:{account}:{kid}")
}

fn feature_disabled() -> AwsError {
    IamException::FeatureDisabledException.error("Outbound web identity federation is not enabled for this account.")
}

fn already_enabled() -> AwsError {
    IamException::FeatureEnabledException.error("Outbound web identity federation is already enabled for this account.")
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A stable UUID derived from the account id (the account's issuer host
/// stays the same across enable and disable).
fn uuid_of(account: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, account.as_bytes());
    let bytes: [u8; 16] = digest.as_ref().get(..16).and_then(|b| b.try_into().ok()).unwrap_or_default();
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// A new key for `alg`: (PKCS#8 private key, public JWK).
fn generate_key(alg: &str) -> Option<(Vec<u8>, Value)> {
    match alg {
        "RS256" => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).ok()?;
            let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).ok()?.as_ref().to_vec();
            let public = pair.public_key();
            let jwk = json!({
                "kty": "RSA",
                "n": b64url(public.modulus().big_endian_without_leading_zero()),
                "e": b64url(public.exponent().big_endian_without_leading_zero()),
            });
            Some((pkcs8, jwk))
        }
        "ES384" => {
            let algorithm = &signature::ECDSA_P384_SHA384_FIXED_SIGNING;
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &SystemRandom::new()).ok()?;
            let pair = EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref()).ok()?;
            // The uncompressed point: 0x04, then x and y of 48 bytes each.
            let point = pair.public_key().as_ref();
            let (x, y) = point.get(1..49).zip(point.get(49..97))?;
            let jwk = json!({ "kty": "EC", "crv": "P-384", "x": b64url(x), "y": b64url(y) });
            Some((pkcs8.as_ref().to_vec(), jwk))
        }
        _ => None,
    }
}

/// Signs `message` with a PKCS#8 key for `alg`, as JWS does: RSASSA-PKCS1-v1_5
/// with SHA-256 for RS256, ECDSA P-384 with SHA-384 as `r || s` for ES384.
fn sign_with(alg: &str, pkcs8: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    let rng = SystemRandom::new();
    match alg {
        "RS256" => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).ok()?;
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut out).ok()?;
            Some(out)
        }
        "ES384" => {
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8).ok()?;
            Some(pair.sign(&rng, message).ok()?.as_ref().to_vec())
        }
        _ => None,
    }
}

impl Iam {
    pub(crate) async fn enable_outbound_federation(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().to_string();
        let issuer = format!("https://{}{OUTBOUND_ISSUER_HOST_SUFFIX}", uuid_of(&account));
        if self.outbound_issuer(call.caller.account()).is_some() {
            return Err(already_enabled());
        }
        // Keys are made before the settings are locked: RSA generation takes
        // tens of milliseconds of one core, on the blocking pool.
        let keys = tokio::task::spawn_blocking(move || {
            OUTBOUND_ALGORITHMS.iter().map(|alg| generate_key(alg).map(|key| (*alg, key))).collect::<Option<Vec<_>>>()
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(service_failure)?;
        let mut sealed = Vec::new();
        for (alg, (pkcs8, public_jwk)) in keys {
            let kid = uuid::Uuid::new_v4().to_string();
            let pkcs8 = zeroize::Zeroizing::new(pkcs8);
            let sealed_pkcs8 =
                self.sealer.seal(&pkcs8, &outbound_key_context(&account, &kid)).map_err(sealing_failed)?;
            sealed.push(OutboundKey { kid, alg: alg.to_string(), sealed_pkcs8, public_jwk });
        }
        let issued = issuer.clone();
        let mut outcome = self
            .edit_settings(call, move |_, settings| {
                // Checked again under the lock: another call may have enabled it.
                if settings.outbound_issuer.is_some() {
                    return Err(already_enabled());
                }
                settings.outbound_issuer = Some(issued);
                settings.outbound_keys = sealed;
                Ok(())
            })
            .await?;
        outcome.output = json!({ "IssuerIdentifier": issuer });
        Ok(outcome)
    }

    /// Disabling forgets the keys: tokens signed before no longer verify
    /// against the published set.
    pub(crate) async fn disable_outbound_federation(
        &self,
        call: &Call,
        _: crate::NoInput,
    ) -> Result<Outcome, AwsError> {
        self.edit_settings(call, |_, settings| {
            settings.outbound_keys.clear();
            settings.outbound_issuer.take().map(drop).ok_or_else(feature_disabled)
        })
        .await
    }

    pub(crate) fn outbound_federation_info(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let issuer = state.accounts.get(call.caller.account()).and_then(|a| a.settings.outbound_issuer.clone());
        let issuer = issuer.ok_or_else(feature_disabled)?;
        Ok(Outcome::read(json!({ "IssuerIdentifier": issuer, "JwtVendingEnabled": true })))
    }

    /// The account's token issuer, when outbound federation is enabled.
    pub fn outbound_issuer(&self, account: &AccountId) -> Option<String> {
        self.state.read().accounts.get(account).and_then(|a| a.settings.outbound_issuer.clone())
    }

    /// A compact JWS of `payload` (the claims' JSON), signed with the
    /// account's key for `alg` and naming it in its header; `None` when the
    /// account has no such key (outbound federation disabled) or it does not
    /// open.
    pub fn sign_outbound_token(&self, account: &AccountId, alg: &str, payload: &str) -> Option<String> {
        let key = {
            let state = self.state.read();
            state.accounts.get(account)?.settings.outbound_keys.iter().find(|k| k.alg == alg)?.clone()
        };
        let pkcs8 = self.sealer.open(&key.sealed_pkcs8, &outbound_key_context(account.as_str(), &key.kid)).ok()?;
        let header = json!({ "alg": alg, "typ": "JWT", "kid": key.kid }).to_string();
        let input = format!("{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()));
        let signature = sign_with(alg, &pkcs8, input.as_bytes())?;
        Some(format!("{input}.{}", b64url(&signature)))
    }

    /// The issuer named by `host` (`UUID.tokens.sts.global.api.aws`) and its
    /// public JWK set, for the server's `/.well-known` documents.
    pub fn outbound_jwks(&self, host: &str) -> Option<(String, Value)> {
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let issuer = format!("https://{host}");
        host.strip_suffix(OUTBOUND_ISSUER_HOST_SUFFIX)?;
        let state = self.state.read();
        let settings =
            state.accounts.values().map(|a| &a.settings).find(|s| s.outbound_issuer.as_deref() == Some(&issuer))?;
        let keys: Vec<Value> = settings
            .outbound_keys
            .iter()
            .map(|k| {
                let mut jwk = k.public_jwk.clone();
                if let Some(fields) = jwk.as_object_mut() {
                    fields.insert("kid".into(), json!(k.kid));
                    fields.insert("alg".into(), json!(k.alg));
                    fields.insert("use".into(), json!("sig"));
                }
                jwk
            })
            .collect();
        Some((issuer, json!({ "keys": keys })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_what_their_public_jwk_verifies() {
        for alg in OUTBOUND_ALGORITHMS {
            let (pkcs8, jwk) = generate_key(alg).unwrap();
            let message = b"eyJhbGciOiJ9.eyJzdWIiOiJ4In0";
            let sig = sign_with(alg, &pkcs8, message).unwrap();
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let field = |name: &str| b64.decode(jwk[name].as_str().unwrap()).unwrap();
            match *alg {
                "RS256" => {
                    let public = signature::RsaPublicKeyComponents { n: field("n"), e: field("e") };
                    public.verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, &sig).unwrap();
                    assert_eq!(sig.len(), 256);
                }
                _ => {
                    let mut point = vec![4];
                    point.extend(field("x"));
                    point.extend(field("y"));
                    let public = signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point);
                    public.verify(message, &sig).unwrap();
                    assert_eq!(sig.len(), 96);
                }
            }
            assert!(sign_with(alg, &pkcs8, b"other").is_some());
        }
        assert!(generate_key("HS256").is_none());
    }
}
