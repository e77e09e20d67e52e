//! Paging over sorted listings, with each service family's spelling of it:
//! IAM's `Marker`/`MaxItems` answered with `IsTruncated` and `Marker`, KMS's
//! `Marker`/`Limit` answered with `Truncated` and `NextMarker`, and the
//! `NextToken`/`MaxResults` of most JSON services. A marker is the sort key
//! of the first item of the next page.

use serde_json::{json, Map, Value};

/// How a service's list outputs say that a listing goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSpelling {
    /// IAM: `IsTruncated` always, `Marker` when truncated.
    Iam,
    /// KMS: `Truncated` always, `NextMarker` when truncated.
    Kms,
    /// `NextToken` when truncated.
    NextToken,
}

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The page of `items` (sorted by key) that starts at `marker` and holds at
/// most `max` items.
pub fn page<'a, T: 'a>(items: impl Iterator<Item = (&'a String, T)>, marker: Option<&str>, max: usize) -> Page<T> {
    let mut out = Vec::new();
    for (key, item) in items {
        if marker.is_some_and(|m| key.as_str() < m) {
            continue;
        }
        if out.len() == max {
            return Page { items: out, next: Some(key.clone()) };
        }
        out.push(item);
    }
    Page { items: out, next: None }
}

impl<T: serde::Serialize> Page<T> {
    /// The list output: `member` holds the items, the rest is `spelling`'s.
    pub fn output(self, member: &str, spelling: PageSpelling) -> Value {
        let mut output = Map::new();
        let truncated = self.next.is_some();
        match spelling {
            PageSpelling::Iam => {
                output.insert("IsTruncated".into(), json!(truncated));
            }
            PageSpelling::Kms => {
                output.insert("Truncated".into(), json!(truncated));
            }
            PageSpelling::NextToken => {}
        }
        output.insert(member.into(), json!(self.items));
        if let Some(next) = self.next {
            let name = match spelling {
                PageSpelling::Iam => "Marker",
                PageSpelling::Kms => "NextMarker",
                PageSpelling::NextToken => "NextToken",
            };
            output.insert(name.into(), json!(next));
        }
        Value::Object(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i:02}")).collect()
    }

    #[test]
    fn pages_resume_at_the_marker_and_end() {
        let keys = keys(5);
        let first = page(keys.iter().map(|k| (k, k.as_str())), None, 2);
        assert_eq!(first, Page { items: vec!["k00", "k01"], next: Some("k02".into()) });
        let second = page(keys.iter().map(|k| (k, k.as_str())), first.next.as_deref(), 2);
        assert_eq!(second.items, ["k02", "k03"]);
        let last = page(keys.iter().map(|k| (k, k.as_str())), second.next.as_deref(), 2);
        assert_eq!(last, Page { items: vec!["k04"], next: None });
        let exact = page(keys.iter().map(|k| (k, k.as_str())), None, 5);
        assert_eq!(exact.next, None, "a full last page is not truncated");
    }

    #[test]
    fn each_family_spells_it_its_way() {
        let page = || Page { items: vec![1], next: Some("m".to_string()) };
        assert_eq!(
            page().output("Users", PageSpelling::Iam),
            json!({"IsTruncated": true, "Users": [1], "Marker": "m"})
        );
        assert_eq!(
            page().output("Keys", PageSpelling::Kms),
            json!({"Truncated": true, "Keys": [1], "NextMarker": "m"})
        );
        assert_eq!(page().output("Trails", PageSpelling::NextToken), json!({"Trails": [1], "NextToken": "m"}));
        let done = Page { items: Vec::<u8>::new(), next: None };
        assert_eq!(done.output("Keys", PageSpelling::Kms), json!({"Truncated": false, "Keys": []}));
    }
}
