//! `*` and `?` wildcards, as IAM matches actions, resources and string conditions.

/// Whether `text` matches `pattern`, where `*` matches any run of characters
/// (including none) and `?` exactly one. Iterative with one backtrack point, so
/// hostile patterns cannot recurse deeply; no allocation for ASCII input.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    // Most patterns fail on their first character (another service): say so at once.
    if let (Some(&p), Some(&t)) = (pattern.as_bytes().first(), text.as_bytes().first()) {
        if p != t && p != b'*' && p != b'?' && p.is_ascii() && t.is_ascii() {
            return false;
        }
    }
    if pattern.is_ascii() && text.is_ascii() {
        return matches_units(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches_units(&p, &t, '*', '?')
}

fn matches_units<T: PartialEq + Copy>(p: &[T], t: &[T], star: T, one: T) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(c) if *c == star => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == one || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    backtrack = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|c| *c == star))
}

/// ARN matching: the first five `:`-separated segments are matched one by one
/// (a wildcard never spans segments there); the resource part, which may
/// itself contain `:` and `/`, is matched whole.
pub(crate) fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (mut p, mut a) = (pattern.splitn(6, ':'), arn.splitn(6, ':'));
    let (pattern_segments, arn_segments) = (pattern.matches(':').count(), arn.matches(':').count());
    if pattern_segments < 5 || arn_segments < 5 {
        return matches(pattern, arn);
    }
    loop {
        match (p.next(), a.next()) {
            (Some(ps), Some(seg)) => {
                if !matches(ps, seg) {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("iam:Get*", "iam:GetUser", true),
            ("iam:Get*", "iam:ListUsers", false),
            ("iam:?etUser", "iam:GetUser", true),
            ("iam:?etUser", "iam:GGetUser", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("", "", true),
            ("", "a", false),
            ("a**", "a", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn arns_match_by_segment() {
        assert!(arn_matches("arn:aws:iam::123456789012:user/*", "arn:aws:iam::123456789012:user/div/bob"));
        assert!(arn_matches("arn:aws:iam::*:user/bob", "arn:aws:iam::123456789012:user/bob"));
        assert!(!arn_matches("arn:aws:iam::*:user/bob", "arn:aws:iam::123456789012:user/bobby"));
        assert!(arn_matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b/c"));
        assert!(arn_matches("arn:aws:iam::*:*", "arn:aws:iam::123456789012:user/bob"));
        assert!(arn_matches("*", "arn:aws:iam::123456789012:user/bob"));
    }
}
