//! Tags on users: TagUser, UntagUser, ListUserTags. A user's tags are its
//! `aws:PrincipalTag/*` condition keys.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, Resource};

use crate::state::{State, Tag, USER_KIND};
use crate::users::{page, page_output, TagInput};
use crate::{model_error, no_such_user, put, Iam};

/// IAM's quota of tags per resource.
const TAGS_PER_RESOURCE: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagUserInput {
    user_name: String,
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UntagUserInput {
    user_name: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListUserTagsInput {
    user_name: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

impl Iam {
    /// Rewrites a user's tags with `edit`; authorization sees them at once.
    async fn edit_tags(
        &self,
        call: &Call,
        user_name: &str,
        edit: impl FnOnce(&mut Vec<Tag>) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let user = {
            let state = self.state.read();
            let mut user = state
                .accounts
                .get(&account)
                .and_then(|a| a.user(user_name))
                .ok_or_else(|| no_such_user(user_name))?
                .clone();
            edit(&mut user.tags)?;
            user
        };
        let writes = vec![put(USER_KIND, &account, &user.user_id, &user)];
        let resources = vec![Resource { kind: "AWS::IAM::User".into(), name: user.name.clone() }];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().users.insert(user.name.to_lowercase(), user);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn tag_user(&self, call: &Call, input: TagUserInput) -> Result<Outcome, AwsError> {
        self.edit_tags(call, &input.user_name, |tags| {
            for t in input.tags {
                // IAM tag keys are unique ignoring case; a new value replaces the old.
                tags.retain(|old| !old.key.eq_ignore_ascii_case(&t.key));
                tags.push(Tag { key: t.key, value: t.value });
            }
            if tags.len() > TAGS_PER_RESOURCE {
                return Err(model_error(
                    "LimitExceededException",
                    format!("Cannot exceed quota for TagsPerResource: {TAGS_PER_RESOURCE}"),
                ));
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn untag_user(&self, call: &Call, input: UntagUserInput) -> Result<Outcome, AwsError> {
        self.edit_tags(call, &input.user_name, |tags| {
            tags.retain(|t| !input.tag_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
            Ok(())
        })
        .await
    }

    pub(crate) fn list_user_tags(&self, call: &Call, input: ListUserTagsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let user = state
            .accounts
            .get(call.caller.account())
            .and_then(|a| a.user(&input.user_name))
            .ok_or_else(|| no_such_user(&input.user_name))?;
        let tags: Vec<(String, Value)> =
            user.tags.iter().map(|t| (t.key.clone(), json!({"Key": t.key, "Value": t.value}))).collect();
        let (items, next) = page(tags.iter().map(|(k, v)| (k, v.clone())), input.marker.as_deref(), input.max_items);
        Ok(Outcome::read(page_output("Tags", items, next)))
    }
}
