//! Console passwords: login profiles (Create/Get/Update/DeleteLoginProfile),
//! ChangePassword, the account password policy
//! (Update/Get/DeleteAccountPasswordPolicy), and the check a sign-in runs
//! (`Iam::check_password`).
//!
//! A password is kept only as an argon2id hash (`hashing`), and earlier
//! hashes are kept for reuse prevention.

use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers, Principal};
use rampart_wire::{CommonError, ExceptionId, IamException, ServiceId};

use crate::errors::service_failure;
use crate::hashing::{blocking, hash_password, password_matches};
use crate::render::user_resource;
use crate::state::{LoginProfile, PasswordPolicy, State, LOGIN_PROFILE_KIND};
use crate::{delete, now_seconds, put, Iam};

/// UpdateAccountPasswordPolicy's default minimum length, and the AWS default
/// policy that applies while an account has none of its own.
const DEFAULT_MINIMUM_LENGTH: u32 = 6;
const AWS_DEFAULT_MINIMUM_LENGTH: usize = 8;
/// At most this many earlier passwords are kept (PasswordReusePrevention's maximum).
const MAX_HISTORY: usize = 24;
/// The symbols AWS counts for RequireSymbols.
const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

fn violation() -> AwsError {
    IamException::PasswordPolicyViolationException.error("Password does not conform to the account password policy.")
}

fn no_login_profile(user: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("Login Profile for User {user} cannot be found."))
}

/// Whether `password` meets `policy`, or AWS's default policy when the
/// account has none: at least eight characters of three of the four kinds,
/// and not the account's name.
pub(crate) fn meets_policy(policy: Option<&PasswordPolicy>, password: &str, account_names: &[&str]) -> bool {
    let has = |test: fn(char) -> bool| password.chars().any(test);
    let upper = has(|c| c.is_ascii_uppercase());
    let lower = has(|c| c.is_ascii_lowercase());
    let number = has(|c| c.is_ascii_digit());
    let symbol = has(|c| SYMBOLS.contains(c) || !(c.is_ascii_alphanumeric() || c.is_whitespace()));
    let length = password.chars().count();
    match policy {
        Some(p) => {
            length >= p.minimum_length as usize
                && (!p.require_uppercase || upper)
                && (!p.require_lowercase || lower)
                && (!p.require_numbers || number)
                && (!p.require_symbols || symbol)
        }
        None => {
            let kinds = [upper, lower, number, symbol].iter().filter(|k| **k).count();
            length >= AWS_DEFAULT_MINIMUM_LENGTH
                && kinds >= 3
                && !account_names.iter().any(|n| n.eq_ignore_ascii_case(password))
        }
    }
}

/// What a sign-in with a password finds (`Iam::check_password`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is right and current.
    Valid,
    /// Right, but the user must choose a new one before going on
    /// (`PasswordResetRequired`, or expired without hard expiry).
    MustChange,
    /// Right, but expired under hard expiry: only an administrator can reset it.
    Expired,
    /// No such user, no login profile, or the wrong password: one answer for
    /// all, so that a sign-in page does not say which users exist.
    Refused,
    /// Too many recent failures for this user.
    Throttled,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateLoginProfileInput {
    user_name: Option<String>,
    password: Option<Zeroizing<String>>,
    #[serde(default)]
    password_reset_required: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateLoginProfileInput {
    user_name: String,
    password: Option<Zeroizing<String>>,
    password_reset_required: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LoginProfileInput {
    user_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangePasswordInput {
    old_password: Zeroizing<String>,
    new_password: Zeroizing<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdatePasswordPolicyInput {
    minimum_password_length: Option<u32>,
    #[serde(default)]
    require_symbols: bool,
    #[serde(default)]
    require_numbers: bool,
    #[serde(default)]
    require_uppercase_characters: bool,
    #[serde(default)]
    require_lowercase_characters: bool,
    #[serde(default)]
    allow_users_to_change_password: bool,
    max_password_age: Option<u32>,
    password_reuse_prevention: Option<u32>,
    hard_expiry: Option<bool>,
}

fn profile_json(user_name: &str, profile: &LoginProfile) -> Value {
    json!({
        "UserName": user_name,
        "CreateDate": profile.create_date,
        "PasswordResetRequired": profile.password_reset_required,
    })
}

pub(crate) fn password_policy_json(p: &PasswordPolicy) -> Value {
    // As AWS answers: MaxPasswordAge 0 and HardExpiry false when unset;
    // PasswordReusePrevention only when set.
    let mut out = json!({
        "MinimumPasswordLength": p.minimum_length,
        "RequireSymbols": p.require_symbols,
        "RequireNumbers": p.require_numbers,
        "RequireUppercaseCharacters": p.require_uppercase,
        "RequireLowercaseCharacters": p.require_lowercase,
        "AllowUsersToChangePassword": p.allow_users_to_change,
        "ExpirePasswords": p.max_age_days.is_some(),
        "MaxPasswordAge": p.max_age_days.unwrap_or(0),
        "HardExpiry": p.hard_expiry.unwrap_or(false),
    });
    if let Some(count) = p.reuse_prevention {
        out.set("PasswordReusePrevention", json!(count));
    }
    out
}

/// Whether a password set at `changed` has expired by `now`.
fn expired(policy: Option<&PasswordPolicy>, changed: f64, now: f64) -> bool {
    policy.and_then(|p| p.expiry_of(changed)).is_some_and(|at| now >= at)
}

/// A new password checked against the policy and the user's earlier ones,
/// hashed: the new hash and history. `previous` is the current profile, if any.
async fn new_password_hash(
    policy: Option<PasswordPolicy>,
    account_names: Vec<String>,
    password: Zeroizing<String>,
    previous: Option<&LoginProfile>,
) -> Result<(String, Vec<String>), AwsError> {
    let names: Vec<&str> = account_names.iter().map(String::as_str).collect();
    if !meets_policy(policy.as_ref(), &password, &names) {
        return Err(violation());
    }
    let mut history: Vec<String> = previous.map(|p| p.history.clone()).unwrap_or_default();
    if let Some(current) = previous {
        history.insert(0, current.password_hash.clone());
    }
    history.truncate(MAX_HISTORY);
    let reuse = policy.as_ref().and_then(|p| p.reuse_prevention).unwrap_or(0) as usize;
    let earlier: Vec<String> = history.iter().take(reuse).cloned().collect();
    let (hash, reused) = blocking(move || {
        let reused = earlier.iter().any(|h| password_matches(h, &password));
        (hash_password(&password), reused)
    })
    .await?;
    if reused {
        return Err(violation());
    }
    Ok((hash.ok_or_else(service_failure)?, history))
}

impl Iam {
    /// The account's password policy, and the names a password may not be
    /// (AWS's default policy: the account's id and alias).
    fn password_rules(&self, account: &AccountId) -> (Option<PasswordPolicy>, Vec<String>) {
        let state = self.state.read();
        let settings = state.accounts.get(account).map(|a| &a.settings);
        let mut names = vec![account.to_string()];
        names.extend(settings.and_then(|s| s.alias.clone()));
        (settings.and_then(|s| s.password_policy.clone()), names)
    }

    /// The user a login-profile request names (the caller when it names none).
    fn login_user(&self, call: &Call, name: Option<&str>) -> Result<(String, String), AwsError> {
        crate::named_user(call, self.state.read().accounts.get(call.caller.account()), name)
    }

    fn store_login_profile(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        user_name: &str,
        profile: LoginProfile,
        output: Value,
    ) -> Result<Outcome, AwsError> {
        let writes = vec![put(LOGIN_PROFILE_KIND, &account, &profile.user_id, &profile)?];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().login_profiles.insert(profile.user_id.clone(), profile);
        });
        Ok(Outcome { output, resources: vec![user_resource(user_name)], change: Some(change) })
    }

    pub(crate) async fn create_login_profile(
        &self,
        call: &Call,
        input: CreateLoginProfileInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let (user_id, user_name) = self.login_user(call, input.user_name.as_deref())?;
        let Some(password) = input.password else {
            return Err(CommonError::Validation.error(ServiceId::Iam, "Password is required."));
        };
        let (policy, names) = self.password_rules(&account);
        let (hash, _) = new_password_hash(policy, names, password, None).await?;
        let guard = self.lock().await;
        if self.state.read().accounts.get(&account).is_some_and(|a| a.login_profiles.contains_key(&user_id)) {
            return Err(IamException::EntityAlreadyExistsException
                .error(format!("Login Profile for user {user_name} already exists.")));
        }
        let now = now_seconds(call);
        let profile = LoginProfile {
            user_id,
            create_date: now,
            password_hash: hash,
            password_changed: now,
            password_reset_required: input.password_reset_required,
            history: Vec::new(),
            last_used: None,
        };
        let output = json!({ "LoginProfile": profile_json(&user_name, &profile) });
        self.store_login_profile(guard, account, &user_name, profile, output)
    }

    pub(crate) fn get_login_profile(&self, call: &Call, input: LoginProfileInput) -> Result<Outcome, AwsError> {
        let (user_id, user_name) = self.login_user(call, input.user_name.as_deref())?;
        let state = self.state.read();
        let profile = state.accounts.get(call.caller.account()).and_then(|a| a.login_profiles.get(&user_id));
        let profile = profile.ok_or_else(|| no_login_profile(&user_name))?;
        Ok(Outcome::read(json!({ "LoginProfile": profile_json(&user_name, profile) })))
    }

    /// The stored profile of `user_id`, or NoSuchEntity for it.
    fn login_profile(&self, account: &AccountId, user_id: &str, user_name: &str) -> Result<LoginProfile, AwsError> {
        let state = self.state.read();
        let profile = state.accounts.get(account).and_then(|a| a.login_profiles.get(user_id));
        profile.cloned().ok_or_else(|| no_login_profile(user_name))
    }

    pub(crate) async fn update_login_profile(
        &self,
        call: &Call,
        input: UpdateLoginProfileInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let (user_id, user_name) = self.login_user(call, Some(&input.user_name))?;
        let current = self.login_profile(&account, &user_id, &user_name)?;
        let new_hash = match input.password {
            Some(password) => {
                let (policy, names) = self.password_rules(&account);
                Some(new_password_hash(policy, names, password, Some(&current)).await?)
            }
            None => None,
        };
        let guard = self.lock().await;
        // Read again under the lock: the profile may have changed while hashing.
        let mut profile = self.login_profile(&account, &user_id, &user_name)?;
        if let Some((hash, history)) = new_hash {
            profile.password_hash = hash;
            profile.history = history;
            profile.password_changed = now_seconds(call);
        }
        if let Some(required) = input.password_reset_required {
            profile.password_reset_required = required;
        }
        self.store_login_profile(guard, account, &user_name, profile, json!({}))
    }

    pub(crate) async fn delete_login_profile(
        &self,
        call: &Call,
        input: LoginProfileInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let (user_id, user_name) = self.login_user(call, input.user_name.as_deref())?;
        let guard = self.lock().await;
        self.login_profile(&account, &user_id, &user_name)?;
        let writes = vec![delete(LOGIN_PROFILE_KIND, &account, &user_id)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.login_profiles.remove(&user_id);
            }
        });
        Ok(Outcome { output: json!({}), resources: vec![user_resource(&user_name)], change: Some(change) })
    }

    /// An IAM user changes their own password: the old one must be right,
    /// the new one must meet the policy, and a reset requirement is cleared.
    pub(crate) async fn change_password(&self, call: &Call, input: ChangePasswordInput) -> Result<Outcome, AwsError> {
        let Principal::User { account, user_id, name, .. } = &call.caller else {
            return Err(IamException::InvalidUserTypeException.error("Only IAM users can change their own password."));
        };
        let current = self.login_profile(account, user_id, name)?;
        if !self.password_throttle.allows(user_id, call.time_ms) {
            return Err(IamException::LimitExceededException
                .error("Too many invalid password attempts. Please wait and try again."));
        }
        let old_hash = current.password_hash.clone();
        let old = input.old_password;
        if !blocking(move || password_matches(&old_hash, &old)).await? {
            self.password_throttle.failed(user_id, call.time_ms);
            return Err(CommonError::AccessDenied.error(ServiceId::Iam, "The old password was incorrect."));
        }
        self.password_throttle.succeeded(user_id);
        let (policy, names) = self.password_rules(account);
        let (hash, history) = new_password_hash(policy, names, input.new_password, Some(&current)).await?;
        let guard = self.lock().await;
        let mut profile = self.login_profile(account, user_id, name)?;
        profile.password_hash = hash;
        profile.history = history;
        profile.password_changed = now_seconds(call);
        profile.password_reset_required = false;
        self.store_login_profile(guard, account.clone(), name, profile, json!({}))
    }

    /// Checks a sign-in's password in constant time whether or not the user
    /// exists (an unknown user is checked against a hash of nothing), and
    /// throttles a user after repeated failures. For Rampart's web sign-in.
    pub async fn check_password(
        &self,
        account: &AccountId,
        user_name: &str,
        password: &str,
        now_ms: i64,
    ) -> PasswordCheck {
        static DECOY: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(|| hash_password(""));
        let found = {
            let state = self.state.read();
            let a = state.accounts.get(account);
            let user = a.and_then(|a| a.user(user_name));
            let profile = user.and_then(|u| a.and_then(|a| a.login_profiles.get(&u.user_id)));
            let policy = a.and_then(|a| a.settings.password_policy.clone());
            profile.cloned().map(|p| (p, policy))
        };
        if let Some((profile, _)) = &found {
            if !self.password_throttle.allows(&profile.user_id, now_ms) {
                return PasswordCheck::Throttled;
            }
        }
        let hash = found.as_ref().map(|(p, _)| p.password_hash.clone()).or_else(|| DECOY.clone()).unwrap_or_default();
        let password = Zeroizing::new(password.to_string());
        let right = blocking(move || password_matches(&hash, &password)).await.unwrap_or(false);
        let Some((profile, policy)) = found else {
            return PasswordCheck::Refused;
        };
        if !right {
            self.password_throttle.failed(&profile.user_id, now_ms);
            return PasswordCheck::Refused;
        }
        self.password_throttle.succeeded(&profile.user_id);
        let now = (now_ms / 1000) as f64;
        if expired(policy.as_ref(), profile.password_changed, now) {
            return if policy.and_then(|p| p.hard_expiry) == Some(true) {
                PasswordCheck::Expired
            } else {
                PasswordCheck::MustChange
            };
        }
        if profile.password_reset_required {
            return PasswordCheck::MustChange;
        }
        PasswordCheck::Valid
    }

    /// UpdateAccountPasswordPolicy: every parameter left out takes its default.
    pub(crate) async fn update_password_policy(
        &self,
        call: &Call,
        input: UpdatePasswordPolicyInput,
    ) -> Result<Outcome, AwsError> {
        let policy = PasswordPolicy {
            minimum_length: input.minimum_password_length.unwrap_or(DEFAULT_MINIMUM_LENGTH),
            require_symbols: input.require_symbols,
            require_numbers: input.require_numbers,
            require_uppercase: input.require_uppercase_characters,
            require_lowercase: input.require_lowercase_characters,
            allow_users_to_change: input.allow_users_to_change_password,
            max_age_days: input.max_password_age,
            reuse_prevention: input.password_reuse_prevention,
            hard_expiry: input.hard_expiry,
        };
        self.edit_settings(call, |_, settings| {
            settings.password_policy = Some(policy);
            Ok(())
        })
        .await
    }

    pub(crate) fn get_password_policy(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let policy = state.accounts.get(account).and_then(|a| a.settings.password_policy.as_ref());
        let policy = policy.ok_or_else(|| no_password_policy(account))?;
        Ok(Outcome::read(json!({ "PasswordPolicy": password_policy_json(policy) })))
    }

    pub(crate) async fn delete_password_policy(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        self.edit_settings(call, |_, settings| {
            settings.password_policy.take().map(drop).ok_or_else(|| {
                IamException::NoSuchEntityException
                    .error("The account policy with name PasswordPolicy cannot be found.")
            })
        })
        .await
    }
}

fn no_password_policy(account: &AccountId) -> AwsError {
    IamException::NoSuchEntityException
        .error(format!("The Password Policy with domain name {account} cannot be found."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: 10,
            require_symbols: true,
            require_numbers: true,
            require_uppercase: true,
            require_lowercase: true,
            allow_users_to_change: true,
            max_age_days: Some(90),
            reuse_prevention: Some(3),
            hard_expiry: None,
        }
    }

    #[test]
    fn custom_policy_checks_length_and_each_kind() {
        let p = policy();
        let cases: &[(&str, bool)] = &[
            ("Abcdefgh1!", true),
            ("Abcdefg1!", false),  // nine characters
            ("abcdefgh1!", false), // no uppercase
            ("ABCDEFGH1!", false), // no lowercase
            ("Abcdefghi!", false), // no number
            ("Abcdefghi1", false), // no symbol
            ("Abcdefgh1'", true),  // ' is one of AWS's symbols
            ("Abcdefgh1é", true),  // so is any other non-alphanumeric character
        ];
        for (password, ok) in cases {
            assert_eq!(meets_policy(Some(&p), password, &[]), *ok, "{password}");
        }
    }

    #[test]
    fn default_policy_wants_eight_characters_of_three_kinds() {
        let cases: &[(&str, bool)] = &[
            ("abcdefg1A", true),
            ("abcdefgh", false),
            ("abcdefg1", false),
            ("Abc1!", false),
            ("abcdef1!", true),
            ("MyAccount1", false), // the account's name
        ];
        for (password, ok) in cases {
            assert_eq!(meets_policy(None, password, &["myaccount1"]), *ok, "{password}");
        }
    }

    #[test]
    fn expiry_counts_days() {
        let p = policy();
        assert!(!expired(Some(&p), 0.0, 89.0 * 86_400.0));
        assert!(expired(Some(&p), 0.0, 90.0 * 86_400.0));
        assert!(!expired(None, 0.0, 1e12));
    }
}
