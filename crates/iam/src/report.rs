//! The credential report (GenerateCredentialReport, GetCredentialReport):
//! AWS's CSV of every user's credentials, from Rampart's own state — login
//! profiles, MFA devices, access keys and their last use as authentication
//! noted it. Like AWS, a report is kept for four hours: generating again
//! within them returns the same report.

use std::sync::Arc;

use base64::Engine;
use serde_json::json;

use rampart_core::{AccountId, AwsError, Call, CredentialEntry, Outcome};
use rampart_wire::{ExceptionId, IamException};

use crate::state::{AccountState, PasswordPolicy};
use crate::Iam;

/// How long a report is current (AWS: "four hours").
const REPORT_LIFETIME_SECONDS: f64 = 4.0 * 3600.0;

/// AWS's columns, in AWS's order.
const COLUMNS: &[&str] = &[
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

const NOT_APPLICABLE: &str = "N/A";

/// The report's time format: ISO 8601 to the second with `+00:00`.
fn report_time(epoch_seconds: f64) -> String {
    let text = rampart_wire::format_iso8601(epoch_seconds.floor());
    match text.strip_suffix('Z') {
        Some(head) => format!("{head}+00:00"),
        None => text,
    }
}

/// The access-key columns of one key slot: active, last rotated, last used
/// date, region and service.
fn key_columns(key: Option<(&crate::state::AccessKey, Option<Arc<CredentialEntry>>)>) -> [String; 5] {
    let na = || NOT_APPLICABLE.to_string();
    let Some((key, entry)) = key else {
        return ["false".to_string(), na(), na(), na(), na()];
    };
    let used = entry.and_then(|e| e.last_used());
    let (date, region, service) = match used {
        Some(u) => (report_time((u.time_ms / 1000) as f64), u.region, u.service),
        None => (na(), na(), na()),
    };
    [key.active.to_string(), report_time(key.create_date), date, region, service]
}

impl Iam {
    /// The report's CSV for the account as it is now.
    fn credential_report_csv(&self, account: &AccountId, a: &AccountState) -> String {
        let policy: Option<&PasswordPolicy> = a.settings.password_policy.as_ref();
        let mut csv = COLUMNS.join(",");
        let keys_columns = |user_id: Option<&str>| {
            let keys = a.keys_of(user_id);
            let slot = |i: usize| keys.get(i).map(|k| (*k, self.credentials.get(&k.access_key_id)));
            let mut columns = key_columns(slot(0)).to_vec();
            columns.extend(key_columns(slot(1)));
            columns
        };
        // A user's signing certificates, oldest first: active, last rotated.
        let cert_columns = |user_id: &str| {
            let mut certs: Vec<&crate::state::SigningCertificate> =
                a.signing_certificates.values().filter(|c| c.user_id == user_id).collect();
            certs.sort_by(|x, y| x.upload_date.total_cmp(&y.upload_date));
            let slot = |i: usize| match certs.get(i) {
                Some(c) => [c.active.to_string(), report_time(c.upload_date)],
                None => ["false".to_string(), NOT_APPLICABLE.to_string()],
            };
            [slot(0), slot(1)].concat()
        };
        let certs = ["false", NOT_APPLICABLE, "false", NOT_APPLICABLE].map(str::to_string);
        // The account root first, as AWS lists it.
        let mut root = vec![
            "<root_account>".to_string(),
            format!("arn:aws:iam::{account}:root"),
            report_time(a.create_date),
            "not_supported".to_string(),
            "no_information".to_string(),
            "not_supported".to_string(),
            "not_supported".to_string(),
            a.mfa_devices_of(crate::mfa::ROOT_OWNER).next().is_some().to_string(),
        ];
        root.extend(keys_columns(None));
        root.extend(certs);
        csv.push('\n');
        csv.push_str(&root.join(","));
        for user in a.users.values() {
            let profile = a.login_profiles.get(&user.user_id);
            let mut row = vec![
                user.name.clone(),
                crate::render::user_arn(account, user),
                report_time(user.create_date),
                profile.is_some().to_string(),
            ];
            match profile {
                Some(p) => {
                    row.push(p.last_used.map_or_else(|| "no_information".to_string(), report_time));
                    row.push(report_time(p.password_changed));
                    let next = policy.and_then(|policy| policy.expiry_of(p.password_changed));
                    row.push(next.map_or_else(|| NOT_APPLICABLE.to_string(), report_time));
                }
                None => row.extend([NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE].map(str::to_string)),
            }
            row.push(a.mfa_devices_of(&user.user_id).next().is_some().to_string());
            row.extend(keys_columns(Some(&user.user_id)));
            row.extend(cert_columns(&user.user_id));
            csv.push('\n');
            csv.push_str(&row.join(","));
        }
        csv
    }

    pub(crate) async fn generate_credential_report(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let now = crate::now_seconds(call);
        let current = {
            let state = self.state.read();
            let report = state.accounts.get(&account).and_then(|a| a.settings.credential_report.clone());
            report.is_some_and(|(generated, _)| now - generated < REPORT_LIFETIME_SECONDS)
        };
        if current {
            return Ok(Outcome::read(json!({ "State": "COMPLETE" })));
        }
        let csv = {
            let state = self.state.read();
            let empty = AccountState::default();
            self.credential_report_csv(&account, state.accounts.get(&account).unwrap_or(&empty))
        };
        let mut outcome = self
            .edit_settings(call, move |_, settings| {
                settings.credential_report = Some((now, csv));
                Ok(())
            })
            .await?;
        outcome.output = json!({
            "State": "STARTED",
            "Description": "No report exists. Starting a new report generation task",
        });
        Ok(outcome)
    }

    pub(crate) fn get_credential_report(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let report = state.accounts.get(call.caller.account()).and_then(|a| a.settings.credential_report.as_ref());
        let Some((generated, csv)) = report else {
            return Err(IamException::CredentialReportNotPresentException
                .error("Credential report does not exist. Use GenerateCredentialReport to generate a report."));
        };
        if crate::now_seconds(call) - generated >= REPORT_LIFETIME_SECONDS {
            return Err(IamException::CredentialReportExpiredException
                .error("Credential report is expired. Use GenerateCredentialReport to generate a new report."));
        }
        Ok(Outcome::read(json!({
            "Content": base64::engine::general_purpose::STANDARD.encode(csv),
            "ReportFormat": "text/csv",
            "GeneratedTime": generated,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_with_offset() {
        assert_eq!(report_time(1_404_922_248.7), "2014-07-09T16:10:48+00:00");
    }

    #[test]
    fn columns_are_awss_twenty_two() {
        assert_eq!(COLUMNS.len(), 22);
        assert_eq!(key_columns(None), ["false", "N/A", "N/A", "N/A", "N/A"].map(str::to_string));
    }
}
