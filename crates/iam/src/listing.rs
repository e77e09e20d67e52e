//! IAM's listings: pages over sorted maps (`rampart_core::paging`) answered
//! with `IsTruncated` and `Marker`.

use serde_json::{json, Value};

use rampart_core::paging::{self, Page, PageSpelling};
use rampart_core::OutputMembers;

/// IAM's page when the request sets no `MaxItems`.
const DEFAULT_MAX_ITEMS: usize = 100;

/// Paging over a sorted sequence (`rampart_core::paging`): `marker` is the
/// sort key to resume at; IAM's default page is 100 items.
pub(crate) fn page<'a, T: 'a>(
    items: impl Iterator<Item = (&'a String, T)>,
    marker: Option<&str>,
    max_items: Option<usize>,
) -> (Vec<T>, Option<String>) {
    let Page { items, next } = paging::page(items, marker, max_items.unwrap_or(DEFAULT_MAX_ITEMS));
    (items, next)
}

/// A page of a listing that spans several output lists (`members`), one
/// marker for all: `items` are `(sort key, member, item)`, sorted by key.
pub(crate) fn multi_page_output(
    members: &[&str],
    items: &[(String, &str, Value)],
    marker: Option<&str>,
    max_items: Option<usize>,
) -> Value {
    let (items, next) = page(items.iter().map(|(key, member, value)| (key, (*member, value))), marker, max_items);
    let mut output = page_output(members.first().copied().unwrap_or("Items"), Vec::<Value>::new(), next);
    for member in members {
        output.set(member, json!([]));
    }
    for (member, value) in items {
        if let Some(list) = output.get_mut(member).and_then(Value::as_array_mut) {
            list.push(value.clone());
        }
    }
    output
}

/// A list output: `member` holds the items, `IsTruncated` and `Marker` say
/// whether and where the listing goes on.
pub(crate) fn page_output<T: serde::Serialize>(member: &str, items: Vec<T>, next: Option<String>) -> Value {
    Page { items, next }.output(member, PageSpelling::Iam)
}
