//! Tags as every service keeps them: a list of key/value pairs per resource,
//! with each service's rules (how many per resource, whether keys compare
//! ignoring case, a reserved prefix). Services map a `TagProblem` to their own
//! error (IAM's `InvalidInput` and `LimitExceeded`, KMS's `TagException`).

/// One service's tag rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagRules {
    /// Tags one resource may have.
    pub per_resource: usize,
    /// IAM treats `Team` and `team` as one key; KMS and EC2 do not.
    pub keys_ignore_case: bool,
    /// A prefix callers may not use (`aws:` for KMS and EC2).
    pub reserved_prefix: Option<&'static str>,
}

/// IAM's: 50 per resource, keys ignoring case (IAM's quotas page).
pub const IAM_TAG_RULES: TagRules = TagRules { per_resource: 50, keys_ignore_case: true, reserved_prefix: None };

/// What is wrong with a set of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagProblem {
    /// The same key twice in one request.
    DuplicateKey(String),
    /// More than `TagRules::per_resource` once applied.
    TooMany(usize),
    /// A key with the reserved prefix.
    Reserved(String),
}

impl TagRules {
    fn same_key(&self, a: &str, b: &str) -> bool {
        if self.keys_ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    /// Checks the tags of one request: no key twice, none reserved.
    pub fn check_request(&self, tags: &[(String, String)]) -> Result<(), TagProblem> {
        for (i, (key, _)) in tags.iter().enumerate() {
            if let Some(prefix) = self.reserved_prefix {
                if key.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)) {
                    return Err(TagProblem::Reserved(key.clone()));
                }
            }
            if tags.iter().take(i).any(|(earlier, _)| self.same_key(earlier, key)) {
                return Err(TagProblem::DuplicateKey(key.clone()));
            }
        }
        if tags.len() > self.per_resource {
            return Err(TagProblem::TooMany(self.per_resource));
        }
        Ok(())
    }

    /// `existing` with `new` applied: a new value replaces the old one of the
    /// same key (as the rules compare keys), then the quota is checked.
    pub fn apply(
        &self,
        existing: &[(String, String)],
        new: &[(String, String)],
    ) -> Result<Vec<(String, String)>, TagProblem> {
        self.check_request(new)?;
        let mut tags: Vec<(String, String)> =
            existing.iter().filter(|(k, _)| !new.iter().any(|(n, _)| self.same_key(k, n))).cloned().collect();
        tags.extend(new.iter().cloned());
        if tags.len() > self.per_resource {
            return Err(TagProblem::TooMany(self.per_resource));
        }
        Ok(tags)
    }

    /// `existing` without the keys `keys`.
    pub fn remove(&self, existing: &[(String, String)], keys: &[String]) -> Vec<(String, String)> {
        existing.iter().filter(|(k, _)| !keys.iter().any(|r| self.same_key(k, r))).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const KMS: TagRules = TagRules { per_resource: 50, keys_ignore_case: false, reserved_prefix: Some("aws:") };

    #[test]
    fn duplicates_follow_the_service_case_rule() {
        let request = tags(&[("Team", "a"), ("team", "b")]);
        assert_eq!(IAM_TAG_RULES.check_request(&request), Err(TagProblem::DuplicateKey("team".into())));
        assert_eq!(KMS.check_request(&request), Ok(()));
        assert_eq!(KMS.check_request(&tags(&[("AWS:x", "1")])), Err(TagProblem::Reserved("AWS:x".into())));
        assert_eq!(IAM_TAG_RULES.check_request(&tags(&[("aws:x", "1")])), Ok(()));
    }

    #[test]
    fn applying_replaces_values_and_holds_the_quota() {
        let existing = tags(&[("Team", "red"), ("env", "prod")]);
        let applied = IAM_TAG_RULES.apply(&existing, &tags(&[("team", "blue")])).unwrap_or_default();
        assert_eq!(applied, tags(&[("env", "prod"), ("team", "blue")]));
        let full: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(IAM_TAG_RULES.apply(&full, &tags(&[("k1", "again")])).map(|t| t.len()), Ok(50));
        assert_eq!(IAM_TAG_RULES.apply(&full, &tags(&[("one-more", "")])), Err(TagProblem::TooMany(50)));
        assert_eq!(IAM_TAG_RULES.remove(&existing, &["TEAM".to_string()]), tags(&[("env", "prod")]));
        assert_eq!(KMS.remove(&existing, &["TEAM".to_string()]), existing);
    }
}
