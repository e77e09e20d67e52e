//! `*` and `?` wildcards, as IAM matches actions, resources and string conditions.

/// Whether `text` matches `pattern`, where `*` matches any run of characters
/// (including none) and `?` exactly one. Iterative with one backtrack point,
/// so it is linear-ish and cannot recurse deeply on hostile patterns.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// ARN matching: the first five `:`-separated segments are matched one by one
/// (a wildcard never spans segments there); the resource part, which may
/// itself contain `:` and `/`, is matched whole.
pub(crate) fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        return matches(pattern, arn);
    }
    p.iter().zip(a.iter()).all(|(p, a)| matches(p, a))
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
