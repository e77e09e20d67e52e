//! SigV4's URI encoding: every byte except the RFC 3986 unreserved set is
//! percent-encoded with upper-case hex. Written here because SigV4 needs
//! exactly this set (and `/` kept in paths), which general crates make awkward.

/// The upper-case hex digit of a nibble (`n` < 16).
fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'A' + (n - 10) })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn encode_into(out: &mut String, input: &[u8], keep_slash: bool) {
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
    }
}

/// Encodes a query key or value (and `/`).
pub fn uri_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    encode_into(&mut out, input, false);
    out
}

/// Encodes a path, keeping `/`.
pub fn uri_encode_path(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    encode_into(&mut out, input, true);
    out
}

/// Decodes a query component: `%XX` escapes (a malformed one is kept
/// literally, as AWS does) and `+` as a space. `+` must mean here what it
/// means to the form decoder that reads the parameters: if the two disagreed,
/// `%2B` and `+` would sign alike and decode apart, and a signed value could
/// be changed without breaking its signature.
pub(crate) fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or_default();
        if b == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| char::from(*c).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| char::from(*c).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                // Both digits are < 16, so the value fits a byte.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_keeps_unreserved() {
        let cases: &[(&str, &str)] = &[
            ("abcXYZ019-_.~", "abcXYZ019-_.~"),
            ("a b", "a%20b"),
            ("a+b", "a%2Bb"),
            ("a/b", "a%2Fb"),
            ("=&", "%3D%26"),
            ("ሴ", "%E1%88%B4"),
        ];
        for (input, want) in cases {
            assert_eq!(uri_encode(input.as_bytes()), *want, "input {input:?}");
        }
        assert_eq!(uri_encode_path(b"/a b/c"), "/a%20b/c");
    }

    #[test]
    fn decodes_escapes_and_keeps_malformed_ones() {
        assert_eq!(percent_decode("a%20b"), b"a b");
        assert_eq!(percent_decode("%E1%88%b4"), "ሴ".as_bytes());
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz"), b"%zz");
        assert_eq!(percent_decode("a+b"), b"a b");
    }
}
