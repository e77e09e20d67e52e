//! JSON Web Tokens as OpenID Connect providers issue them (RFC 7519), and
//! the JSON Web Keys they are verified with (RFC 7517): parsing and
//! signature verification only, with aws-lc-rs. Pure: the keys are fetched by
//! `oidc_keys`, the claims judged by `web_identity`.
//!
//! Written here rather than taken from a JWT crate: the ones that exist
//! bring a second crypto provider or an RSA implementation with an open
//! timing advisory, and the part STS needs — compact serialization, the
//! RS/PS/ES algorithms, no `none`, no symmetric keys — is small.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The largest token STS takes (the model's `WebIdentityToken` limit).
pub(crate) const MAX_TOKEN_CHARS: usize = 20_000;

/// Why a token was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("the token is not a JWT in compact serialization")]
    Malformed,
    #[error("the token's signing algorithm {0} is not accepted")]
    Algorithm(String),
}

/// The signature algorithms accepted: asymmetric only (`none` and the HMAC
/// ones cannot prove who issued a token to a third party).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
}

impl Algorithm {
    fn parse(name: &str) -> Option<Algorithm> {
        Some(match name {
            "RS256" => Algorithm::Rs256,
            "RS384" => Algorithm::Rs384,
            "RS512" => Algorithm::Rs512,
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            _ => return None,
        })
    }

    fn rsa(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::Es256 | Algorithm::Es384 => return None,
        })
    }

    /// The ECDSA algorithm and the curve a key must be on.
    fn ecdsa(self) -> Option<(&'static dyn VerificationAlgorithm, &'static str)> {
        match self {
            Algorithm::Es256 => Some((&signature::ECDSA_P256_SHA256_FIXED, "P-256")),
            Algorithm::Es384 => Some((&signature::ECDSA_P384_SHA384_FIXED, "P-384")),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// A token, read but not yet verified: nothing in `claims` may be trusted
/// before `verify` succeeds.
#[derive(Debug)]
pub(crate) struct Jwt {
    pub algorithm: Algorithm,
    pub key_id: Option<String>,
    pub claims: serde_json::Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    pub fn parse(token: &str) -> Result<Jwt, JwtError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed);
        let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed)?;
        // A critical extension Rampart does not know must not be ignored (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return Err(JwtError::Malformed);
        }
        let algorithm = Algorithm::parse(&header.alg).ok_or(JwtError::Algorithm(header.alg))?;
        let claims = match serde_json::from_slice(&decode(payload)?) {
            Ok(Value::Object(claims)) => claims,
            _ => return Err(JwtError::Malformed),
        };
        let signature = decode(signature)?;
        let signing_input = token.rsplit_once('.').map(|(input, _)| input.to_string()).unwrap_or_default();
        Ok(Jwt { algorithm, key_id: header.kid, claims, signing_input, signature })
    }

    /// A string claim.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim (seconds since the epoch; fractions allowed).
    pub fn time_claim(&self, name: &str) -> Option<f64> {
        self.claims.get(name).and_then(Value::as_f64)
    }

    /// The `aud` claim: a string or an array of strings.
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(one)) => vec![one],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `key` signed the token with the token's algorithm.
    pub fn verify(&self, key: &Jwk) -> bool {
        if key.usage.as_deref().is_some_and(|u| u != "sig") {
            return false;
        }
        match (&key.material, self.algorithm.rsa(), self.algorithm.ecdsa()) {
            (KeyMaterial::Rsa { n, e }, Some(parameters), _) => signature::RsaPublicKeyComponents { n, e }
                .verify(parameters, self.signing_input.as_bytes(), &self.signature)
                .is_ok(),
            (KeyMaterial::Ec { curve, point }, _, Some((algorithm, wanted))) if curve == wanted => {
                UnparsedPublicKey::new(algorithm, point).verify(self.signing_input.as_bytes(), &self.signature).is_ok()
            }
            _ => false,
        }
    }
}

/// A public key of a JWK set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jwk {
    pub key_id: Option<String>,
    /// `use`: a key marked for encryption does not verify signatures.
    pub usage: Option<String>,
    pub material: KeyMaterial,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyMaterial {
    /// Big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The curve's name and the uncompressed point (`04 || x || y`).
    Ec { curve: String, point: Vec<u8> },
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// The keys of a JWK set document (`{"keys": [...]}`) that can verify a
/// signature; keys of other types, or malformed ones, are skipped.
pub(crate) fn parse_jwk_set(document: &[u8]) -> Option<Vec<Jwk>> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(document).ok()?;
    Some(set.keys.into_iter().filter_map(|key| serde_json::from_value::<RawJwk>(key).ok()?.into_jwk()).collect())
}

impl RawJwk {
    fn into_jwk(self) -> Option<Jwk> {
        let decode = |part: Option<String>| URL_SAFE_NO_PAD.decode(part?.trim_end_matches('=')).ok();
        let material = match self.kty.as_str() {
            "RSA" => KeyMaterial::Rsa { n: decode(self.n)?, e: decode(self.e)? },
            "EC" => {
                let curve = self.crv?;
                let width = match curve.as_str() {
                    "P-256" => 32,
                    "P-384" => 48,
                    _ => return None,
                };
                let (x, y) = (decode(self.x)?, decode(self.y)?);
                if x.len() != width || y.len() != width {
                    return None;
                }
                let mut point = vec![0x04];
                point.extend(x);
                point.extend(y);
                KeyMaterial::Ec { curve, point }
            }
            _ => return None,
        };
        Some(Jwk { key_id: self.kid, usage: self.usage, material })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.2: an RS256 JWS and the RSA key that signed it.
    const RFC7515_A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const RFC7515_A2_E: &str = "AQAB";

    fn rfc_key() -> Jwk {
        let document = format!(r#"{{"keys":[{{"kty":"RSA","n":"{RFC7515_A2_N}","e":"{RFC7515_A2_E}"}}]}}"#);
        parse_jwk_set(document.as_bytes()).and_then(|keys| keys.into_iter().next()).unwrap_or_else(|| {
            unreachable!("the RFC's key parses");
        })
    }

    #[test]
    fn verifies_rfc7515_rs256_example() {
        let jwt = Jwt::parse(RFC7515_A2_TOKEN).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(jwt.algorithm, Algorithm::Rs256);
        assert_eq!(jwt.claim("iss"), Some("joe"));
        assert_eq!(jwt.time_claim("exp"), Some(1_300_819_380.0));
        assert!(jwt.verify(&rfc_key()));
    }

    #[test]
    fn refuses_altered_tokens_and_wrong_keys() {
        let key = rfc_key();
        // One changed character of the payload, or of the signature.
        let mut parts = RFC7515_A2_TOKEN.split('.');
        let (header, payload, signature) = (parts.next(), parts.next(), parts.next());
        let payload = URL_SAFE_NO_PAD.decode(payload.unwrap_or_default()).unwrap_or_default();
        let forged = String::from_utf8_lossy(&payload).replace("joe", "eve");
        let altered = format!(
            "{}.{}.{}",
            header.unwrap_or_default(),
            URL_SAFE_NO_PAD.encode(forged),
            signature.unwrap_or_default()
        );
        assert!(Jwt::parse(&altered).is_ok_and(|jwt| !jwt.verify(&key)));
        let resigned = RFC7515_A2_TOKEN.replace(".cC4hiUPoj9", ".cC4hiUPoj8");
        assert!(Jwt::parse(&resigned).is_ok_and(|jwt| !jwt.verify(&key)));
        // The same token claimed to be ES256, or verified by an EC key.
        let jwt = Jwt::parse(RFC7515_A2_TOKEN).unwrap_or_else(|e| unreachable!("{e}"));
        let ec =
            Jwk { key_id: None, usage: None, material: KeyMaterial::Ec { curve: "P-256".into(), point: vec![4; 65] } };
        assert!(!jwt.verify(&ec));
        let encryption_key = Jwk { usage: Some("enc".into()), ..key };
        assert!(!jwt.verify(&encryption_key));
    }

    #[test]
    fn refuses_unsigned_symmetric_and_malformed_tokens() {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let payload = part(r#"{"iss":"joe"}"#);
        for (alg, want) in [
            ("none", JwtError::Algorithm("none".into())),
            ("HS256", JwtError::Algorithm("HS256".into())),
            ("RS1", JwtError::Algorithm("RS1".into())),
        ] {
            let token = format!("{}.{payload}.", part(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(Jwt::parse(&token).err(), Some(want), "{alg}");
        }
        let rs256 = part(r#"{"alg":"RS256"}"#);
        for token in [
            String::new(),
            "a.b".to_string(),
            "a.b.c.d".to_string(),
            format!("{rs256}.{payload}.!!"),
            format!("{rs256}.{}.", part("[1]")),
            format!("{}.{payload}.", part(r#"{"alg":"RS256","crit":["exp"]}"#)),
            format!("{rs256}.{payload}.{}", "A".repeat(MAX_TOKEN_CHARS)),
        ] {
            assert_eq!(Jwt::parse(&token).err(), Some(JwtError::Malformed), "{token:.60}");
        }
    }

    #[test]
    fn reads_audiences_as_string_or_list() {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let token = |claims: &str| format!("{}.{}.", part(r#"{"alg":"ES256"}"#), part(claims));
        let parse = |claims: &str| Jwt::parse(&token(claims)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(parse(r#"{"aud":"a"}"#).audiences(), vec!["a"]);
        assert_eq!(parse(r#"{"aud":["a","b",3]}"#).audiences(), vec!["a", "b"]);
        assert!(parse(r#"{}"#).audiences().is_empty());
    }

    #[test]
    fn reads_jwk_sets_skipping_what_cannot_verify() {
        let set = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0"},
            {"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"EC","crv":"P-256","kid":"short","x":"AA","y":"AA"},
            {"kty":"EC","crv":"P-256","kid":"ok","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"RSA","kid":"rsa","n":"AQAB","e":"AQAB","use":"sig"}
        ]}"#;
        let keys = parse_jwk_set(set).unwrap_or_default();
        let ids: Vec<_> = keys.iter().map(|k| k.key_id.as_deref()).collect();
        assert_eq!(ids, vec![Some("ok"), Some("rsa")]);
        assert_eq!(parse_jwk_set(b"[]"), None);
        assert_eq!(parse_jwk_set(b"{\"keys\":{}}"), None);
    }
}
