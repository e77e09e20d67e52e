//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, the
//! escapes `${*}`, `${?}`, `${$}`, and defaults `${aws:x, 'fallback'}`.
//! Only policies of Version 2012-10-17 substitute them.

use crate::condition::Context;

/// Replaces every variable in `text`; `None` when one is missing from the
/// context and has no default (the element then matches nothing).
pub(crate) fn substitute(text: &str, context: &Context) -> Option<String> {
    if !text.contains("${") {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start)?);
        let after = rest.get(start + 2..)?;
        let Some(end) = after.find('}') else {
            out.push_str(rest.get(start..)?);
            return Some(out);
        };
        let inner = after.get(..end)?.trim();
        match inner {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\'').to_string())),
                    None => (inner, None),
                };
                let value = context.get(key).and_then(|v| v.first()).cloned().or(default)?;
                out.push_str(&value);
            }
        }
        rest = after.get(end + 1..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// The context keys a text's variables name (not the `${*}`-style escapes).
pub(crate) fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(after) = rest.get(start + 2..) else { break };
        let Some(end) = after.find('}') else { break };
        let inner = after.get(..end).unwrap_or_default();
        let key = inner.split(',').next().unwrap_or_default().trim();
        if !matches!(key, "*" | "?" | "$" | "") {
            out.push(key.to_string());
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_as_iam_does() {
        let mut c = Context::new();
        c.set("aws:username", "bob");
        c.set("aws:PrincipalTag/team", "blue");
        let cases = [
            ("arn:aws:iam::1:user/${aws:username}", Some("arn:aws:iam::1:user/bob")),
            ("${aws:principaltag/team}-x", Some("blue-x")),
            ("literal ${*} and ${?} and ${$}", Some("literal * and ? and $")),
            ("${aws:missing}", None),
            ("${aws:missing, 'fallback'}", Some("fallback")),
            ("no variables", Some("no variables")),
            ("unterminated ${aws:username", Some("unterminated ${aws:username")),
        ];
        for (text, want) in cases {
            assert_eq!(substitute(text, &c).as_deref(), want, "{text}");
        }
        assert_eq!(names("a/${aws:username}/${*}/${aws:x, 'd'}"), ["aws:username", "aws:x"]);
    }
}
