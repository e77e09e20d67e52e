//! The canonical request and the string to sign, built from what was received.

use crate::encoding::{percent_decode, uri_encode, uri_encode_path};
use crate::{AuthParams, CredentialScope, RequestView, SigV4Error, ALGORITHM};

/// The canonical form of a request, as the client must have built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest(pub String);

impl CanonicalRequest {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Lower-case hex SHA-256 of the canonical request.
    pub fn hash_hex(&self) -> String {
        crate::signing::sha256_hex(self.0.as_bytes())
    }
}

/// Removes `.` and `..` segments and empty segments (double slashes), keeping a
/// trailing slash; the path is then URI-encoded once more, as non-S3 services do.
fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() || raw_path == "/" {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut path = String::with_capacity(raw_path.len() + 1);
    for s in &segments {
        path.push('/');
        path.push_str(s);
    }
    let trailing = raw_path.ends_with('/') || raw_path.ends_with("/.") || raw_path.ends_with("/..");
    if path.is_empty() || (trailing && !path.ends_with('/')) {
        path.push('/');
    }
    uri_encode_path(path.as_bytes())
}

/// Decodes and re-encodes every pair, drops `X-Amz-Signature`, sorts by key then value.
fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = uri_encode(&percent_decode(k));
            (key != "X-Amz-Signature").then(|| (key, uri_encode(&percent_decode(v))))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims the value and folds runs of spaces into one.
fn push_header_value(out: &mut String, value: &str) {
    let mut last_space = false;
    for c in value.trim().chars() {
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
}

/// Builds the canonical request. `payload_hash` is the hex SHA-256 of the body
/// (or the value of a signed `x-amz-content-sha256` header).
pub fn canonical_request(
    request: &RequestView<'_>,
    params: &AuthParams,
    payload_hash: &str,
) -> Result<CanonicalRequest, SigV4Error> {
    if !params.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HeaderNotSigned(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }
    let mut text = String::with_capacity(256);
    text.push_str(request.method);
    text.push('\n');
    text.push_str(&canonical_uri(request.path));
    text.push('\n');
    text.push_str(&canonical_query(request.query));
    text.push('\n');
    for name in &params.signed_headers {
        text.push_str(name);
        text.push(':');
        let mut found = false;
        for (_, value) in request.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if found {
                text.push(',');
            }
            push_header_value(&mut text, value);
            found = true;
        }
        if !found {
            return Err(SigV4Error::HeaderNotSigned(format!(
                "The request signature we calculated does not match the signature you provided: \
                 signed header '{name}' is not present"
            )));
        }
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&params.signed_headers.join(";"));
    text.push('\n');
    text.push_str(payload_hash);
    Ok(CanonicalRequest(text))
}

/// `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex(sha256(canonical))>`.
pub fn string_to_sign(amz_date: &str, scope: &CredentialScope, canonical: &CanonicalRequest) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{}\n{}", scope.to_scope_string(), canonical.hash_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths_like_the_test_suite() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("/example space/", "/example%20space/"),
            ("/ሴ", "/%E1%88%B4"),
            (
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            ),
            ("/%E1%88%B4", "/%25E1%2588%25B4"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_uri(raw), want, "path {raw:?}");
        }
    }

    #[test]
    fn sorts_and_reencodes_the_query() {
        let cases = [
            ("", ""),
            ("Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
            ("Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2"),
            ("ሴ=bar", "%E1%88%B4=bar"),
            ("Param1", "Param1="),
            ("a=b%20c&X-Amz-Signature=ff", "a=b%20c"),
            ("-._~=-._~", "-._~=-._~"),
            // `+` is a space, as the form decoder reads it; `%2B` is a plus.
            ("a=b+c", "a=b%20c"),
            ("a=b%2Bc", "a=b%2Bc"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_query(raw), want, "query {raw:?}");
        }
    }

    #[test]
    fn folds_header_whitespace() {
        let mut out = String::new();
        push_header_value(&mut out, "  value1   value2  ");
        assert_eq!(out, "value1 value2");
    }
}
