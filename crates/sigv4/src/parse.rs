//! Reading the signature parameters a client sent: the `Authorization` header
//! or the `X-Amz-*` query parameters of a presigned URL.

use crate::encoding::percent_decode;
use crate::{SigV4Error, ALGORITHM, MAX_PRESIGNED_EXPIRES_SECS};

/// `date/region/service/aws4_request`, the scope a signing key is derived for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// The scope as it appears in the string to sign.
    pub fn to_scope_string(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

/// The signature parameters of a request, whichever way they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    pub access_key_id: String,
    pub scope: CredentialScope,
    /// Lower-case header names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// Lower-case hex as sent.
    pub signature: String,
    /// The `X-Amz-Date` of a presigned URL; `None` for header signing, where the
    /// caller reads the `X-Amz-Date` (or `Date`) header.
    pub presigned_date: Option<String>,
    /// Seconds of validity of a presigned URL.
    pub presigned_expires: Option<i64>,
    /// `X-Amz-Security-Token` of a presigned URL.
    pub presigned_security_token: Option<String>,
}

/// Parses `Credential=AKID/date/region/service/aws4_request`'s value.
fn parse_credential(value: &str) -> Result<(String, CredentialScope), SigV4Error> {
    let parts: Vec<&str> = value.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped to a valid region. Credential={value}"
        )));
    };
    if akid.is_empty() {
        return Err(SigV4Error::Incomplete(format!("Credential should have an access key id. Credential={value}")));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::Incomplete(format!("Credential should be scoped to a valid date, not '{date}'.")));
    }
    if region.is_empty() {
        return Err(SigV4Error::Incomplete("Credential should be scoped to a valid region, not ''.".to_string()));
    }
    if *terminator != "aws4_request" {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    Ok((
        (*akid).to_string(),
        CredentialScope { date: (*date).to_string(), region: (*region).to_string(), service: (*service).to_string() },
    ))
}

fn parse_signed_headers(value: &str) -> Vec<String> {
    value.split(';').filter(|h| !h.is_empty()).map(str::to_ascii_lowercase).collect()
}

/// Parses an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` value.
pub fn parse_authorization_header(header: &str) -> Result<AuthParams, SigV4Error> {
    let header = header.trim();
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            // The header is not quoted back (AWS does): it carries a signature.
            return Err(SigV4Error::Incomplete(
                "Authorization header requires each component to be of the form key=value.".to_string(),
            ));
        };
        match key.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed_headers = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, value) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed_headers)] {
        if value.is_none() {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        return Err(SigV4Error::Incomplete(missing.trim_end().to_string()));
    };
    let (access_key_id, scope) = parse_credential(credential)?;
    Ok(AuthParams {
        access_key_id,
        scope,
        signed_headers: parse_signed_headers(signed_headers),
        signature: signature.to_string(),
        presigned_date: None,
        presigned_expires: None,
        presigned_security_token: None,
    })
}

/// Parses the `X-Amz-*` parameters of a presigned URL. `Ok(None)` when the
/// query string carries no `X-Amz-Algorithm` (not presigned).
pub fn parse_presigned_query(query: &str) -> Result<Option<AuthParams>, SigV4Error> {
    let mut algorithm = None;
    let mut credential = None;
    let mut date = None;
    let mut expires = None;
    let mut signed_headers = None;
    let mut signature = None;
    let mut token = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-Date" => &mut date,
            "X-Amz-Expires" => &mut expires,
            "X-Amz-SignedHeaders" => &mut signed_headers,
            "X-Amz-Signature" => &mut signature,
            "X-Amz-Security-Token" => &mut token,
            _ => continue,
        };
        *slot = Some(String::from_utf8_lossy(&percent_decode(value)).into_owned());
    }
    let Some(algorithm) = algorithm else {
        return Ok(None);
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm));
    }
    let mut missing = Vec::new();
    for (name, value) in [
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", &signed_headers),
        ("X-Amz-Signature", &signature),
    ] {
        if value.is_none() {
            missing.push(format!("AWS query-string parameters must include '{name}'."));
        }
    }
    let (Some(credential), Some(date), Some(expires), Some(signed_headers), Some(signature)) =
        (credential, date, expires, signed_headers, signature)
    else {
        return Err(SigV4Error::Incomplete(format!("{} Re-examine the query-string parameters.", missing.join(" "))));
    };
    let expires: i64 = expires
        .parse()
        .map_err(|_| SigV4Error::Incomplete(format!("X-Amz-Expires should be a number, not '{expires}'.")))?;
    if expires < 0 {
        return Err(SigV4Error::Incomplete("X-Amz-Expires must be non-negative".to_string()));
    }
    if expires > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(SigV4Error::ExpiresTooLong);
    }
    let (access_key_id, scope) = parse_credential(&credential)?;
    Ok(Some(AuthParams {
        access_key_id,
        scope,
        signed_headers: parse_signed_headers(&signed_headers),
        signature,
        presigned_date: Some(date),
        presigned_expires: Some(expires),
        presigned_security_token: token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_botocore_authorization_header() {
        let p = parse_authorization_header(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        assert_eq!(p.access_key_id, "AKIDEXAMPLE");
        assert_eq!(p.scope.to_scope_string(), "20150830/us-east-1/iam/aws4_request");
        assert_eq!(p.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert_eq!(p.presigned_date, None);
    }

    #[test]
    fn malformed_headers_are_incomplete_signatures() {
        let cases = [
            ("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request", "requires 'Signature'"),
            ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00", "requires 'Credential'"),
            (
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/wrong, SignedHeaders=host, Signature=00",
                "valid terminator",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00",
                "valid date",
            ),
            ("AWS4-HMAC-SHA256 Credential=AKID, SignedHeaders=host, Signature=00", "valid region"),
            ("AWS4-HMAC-SHA256 garbage, Signature=cafe", "key=value"),
        ];
        for (header, want) in cases {
            match parse_authorization_header(header) {
                Err(SigV4Error::Incomplete(msg)) => {
                    assert!(msg.contains(want), "{header}: {msg}");
                    assert!(!msg.contains("Signature=") && !msg.contains("cafe"), "{header}: {msg}");
                }
                other => panic!("{header}: {other:?}"),
            }
        }
        assert_eq!(
            parse_authorization_header("AWS AKID:sig"),
            Err(SigV4Error::UnsupportedAlgorithm("AWS".to_string()))
        );
    }

    #[test]
    fn parses_presigned_parameters() {
        let q = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
                 &X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=abcd";
        let p = parse_presigned_query(q).unwrap().unwrap();
        assert_eq!(p.access_key_id, "AKID");
        assert_eq!(p.presigned_expires, Some(3600));
        assert_eq!(p.presigned_date.as_deref(), Some("20150830T123600Z"));
        assert_eq!(parse_presigned_query("Action=GetCallerIdentity").unwrap(), None);
        let too_long = q.replace("X-Amz-Expires=3600", "X-Amz-Expires=604801");
        assert_eq!(parse_presigned_query(&too_long), Err(SigV4Error::ExpiresTooLong));
        let missing = q.replace("&X-Amz-Signature=abcd", "");
        assert!(matches!(parse_presigned_query(&missing), Err(SigV4Error::Incomplete(_))));
    }
}
