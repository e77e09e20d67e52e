//! MFA devices, virtual and hardware: CreateVirtualMFADevice, EnableMFADevice,
//! ResyncMFADevice, DeactivateMFADevice, DeleteVirtualMFADevice,
//! GetMFADevice, ListMFADevices, ListVirtualMFADevices — and the code check
//! STS runs for GetSessionToken and AssumeRole (`Iam::verify_mfa_code`).
//!
//! A device's seed is 40 random bytes, returned once (Base32 and as a QR code
//! of the `otpauth://` URI) and stored only sealed. Codes are RFC 6238 TOTP;
//! each is accepted once: a device remembers the last time step it accepted
//! and refuses that step and every earlier one. Repeated wrong codes lock the
//! device for a while (`Throttle`).
//!
//! Hardware TOTP tokens come with their seeds from the vendor, as AWS's do:
//! the operator lists them (serial number and Base32 seed) in a file that
//! `rampart serve --hardware-mfa-tokens` registers at start-up, sealed, in the
//! node's account (`Iam::register_hardware_tokens`). A user then enables one
//! by its serial number with two consecutive codes, as on AWS.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::{AccountId, AwsError, Call, Change, Outcome, OutputMembers, Principal, Resource};
use rampart_wire::{CommonError, ExceptionId, IamException, ServiceId};

use crate::errors::{sealing_failed, service_failure};
use crate::listing::{page, page_output};
use crate::render::{tags_json, user_json};
use crate::state::{AccountState, MfaDevice, State, MFA_KIND};
use crate::tagging::{new_tags, TagInput};
use crate::totp::{self, step_of};

use crate::{delete, now_seconds, put, Iam};

/// IAM's quota of MFA devices per user.
const MFA_DEVICES_PER_USER: usize = 8;
/// AWS publishes no quota of unassigned virtual devices; Rampart bounds them
/// so that nobody can fill the store with them.
const VIRTUAL_MFA_DEVICES_PER_ACCOUNT: usize = 5000;
/// AWS's seeds: 40 bytes, 64 Base32 characters.
const SEED_BYTES: usize = 40;
/// How far back EnableMFADevice looks for its two consecutive codes (codes
/// read off a phone a minute or two before the call), and how far either way
/// ResyncMFADevice looks for a clock that drifted.
const ENABLE_WINDOW_STEPS: i64 = 10;
const RESYNC_WINDOW_STEPS: i64 = 20;
/// The owner of the account root's devices (no IAM user id looks like it).
pub(crate) const ROOT_OWNER: &str = "root";
/// A code is accepted one step either side of the device's own clock.
const SIGN_IN_WINDOW_STEPS: i64 = 1;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateVirtualMfaDeviceInput {
    #[serde(rename = "VirtualMFADeviceName")]
    name: String,
    path: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeviceCodesInput {
    user_name: String,
    serial_number: String,
    authentication_code1: String,
    authentication_code2: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserDeviceInput {
    user_name: Option<String>,
    serial_number: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SerialInput {
    serial_number: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListMfaDevicesInput {
    user_name: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListVirtualMfaDevicesInput {
    assignment_status: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

pub(crate) fn mfa_resource(serial: &str) -> Resource {
    Resource { kind: "AWS::IAM::VirtualMFADevice".into(), name: serial.to_string() }
}

pub(crate) fn no_such_device(serial: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("VirtualMFADevice with serial number {serial} doesn't exist."))
}

fn invalid_codes() -> AwsError {
    IamException::InvalidAuthenticationCodeException.error("Authentication code for device is not valid.")
}

/// Why STS refused an MFA code, in STS's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaRefusal {
    /// The serial number is not a device enabled for the caller.
    UnknownDevice,
    /// A wrong, old or already used code, or a device locked after repeated
    /// wrong codes.
    InvalidCode,
}

impl MfaRefusal {
    pub fn error(self) -> AwsError {
        let message = match self {
            MfaRefusal::UnknownDevice => {
                "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial \
                 number is valid and associated with this user."
            }
            MfaRefusal::InvalidCode => "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
        };
        CommonError::AccessDenied.error(ServiceId::Sts, message)
    }
}

/// The device a serial number names in `a`: virtual devices by their ARN.
fn device<'a>(a: Option<&'a AccountState>, serial: &str) -> Option<&'a MfaDevice> {
    a?.mfa_devices.get(serial)
}

/// What a device's seed is sealed to: a virtual device's serial (its ARN,
/// which names the account); a hardware token's serial with the account.
pub(crate) fn seed_context(account: &AccountId, serial: &str, hardware: bool) -> String {
    if hardware {
        format!("hardware-mfa:{account}:{serial}")
    } else {
        serial.to_string()
    }
}

/// The first step `s` in `steps` with `code1` at `s` and `code2` at `s + 1`.
fn consecutive(seed: &[u8], steps: std::ops::RangeInclusive<i64>, code1: &str, code2: &str) -> Option<i64> {
    let first = steps.filter(|s| totp::matches(seed, *s, code1)).collect::<Vec<_>>();
    first.into_iter().find(|s| totp::matches(seed, s + 1, code2))
}

impl Iam {
    fn open_seed(&self, account: &AccountId, device: &MfaDevice) -> Result<Zeroizing<Vec<u8>>, AwsError> {
        self.sealer.open(&device.sealed_seed, &seed_context(account, &device.serial, device.hardware)).map_err(
            |error| {
                tracing::error!(%error, serial = %device.serial, "an MFA seed could not be opened");
                service_failure()
            },
        )
    }

    /// Stores a new or changed device and, once that is durable, keeps it in memory.
    fn store_device(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        device: MfaDevice,
    ) -> Result<Change, AwsError> {
        let writes = vec![put(MFA_KIND, &account, &device.serial, &device)?];
        Ok(self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().mfa_devices.insert(device.serial.clone(), device);
        }))
    }

    pub(crate) async fn create_virtual_mfa_device(
        &self,
        call: &Call,
        input: CreateVirtualMfaDeviceInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let tags = new_tags(input.tags)?;
        let path = input.path.unwrap_or_else(|| "/".to_string());
        let serial = rampart_core::iam_arn(&account, "mfa", &path, &input.name);
        let guard = self.lock().await;
        {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            if a.is_some_and(|a| a.mfa_devices.keys().any(|s| s.eq_ignore_ascii_case(&serial))) {
                return Err(IamException::EntityAlreadyExistsException
                    .error("MFADevice entity at the same path and name already exists."));
            }
            if a.map_or(0, |a| a.mfa_devices.values().filter(|d| !d.hardware).count())
                >= VIRTUAL_MFA_DEVICES_PER_ACCOUNT
            {
                return Err(IamException::LimitExceededException.error(format!(
                    "Cannot exceed quota for VirtualMFADevicesPerAccount: {VIRTUAL_MFA_DEVICES_PER_ACCOUNT}"
                )));
            }
        }
        let mut seed = Zeroizing::new(vec![0u8; SEED_BYTES]);
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut seed[..]);
        let base32 = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&seed));
        let account_name = match &call.caller {
            Principal::User { name, .. } => name.clone(),
            _ => account.to_string(),
        };
        let uri = Zeroizing::new(crate::qr::otpauth_uri(&input.name, &account_name, &base32));
        let png = crate::qr::png(&uri).ok_or_else(service_failure)?;
        let device = MfaDevice {
            sealed_seed: self.sealer.seal(&seed, &serial).map_err(sealing_failed)?,
            serial: serial.clone(),
            create_date: now_seconds(call),
            user_id: None,
            enable_date: None,
            last_step: 0,
            drift: 0,
            tags,
            hardware: false,
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut created = json!({
            "SerialNumber": serial,
            "Base32StringSeed": b64.encode(base32.as_bytes()),
            "QRCodePNG": b64.encode(png),
        });
        if !device.tags.is_empty() {
            created.set("Tags", tags_json(&device.tags));
        }
        let change = self.store_device(guard, account, device)?;
        let resources = vec![mfa_resource(&serial)];
        Ok(Outcome { output: json!({ "VirtualMFADevice": created }), resources, change: Some(change) })
    }

    /// EnableMFADevice and ResyncMFADevice: two consecutive codes near
    /// Rampart's clock (only in the past when enabling), later than any code
    /// the device has given. They set the device's drift; enabling assigns it.
    async fn check_codes(&self, call: &Call, input: DeviceCodesInput, enabling: bool) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (mut device, user_id) = {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            let owner = self.named_user_id(call, a, Some(&input.user_name))?;
            let device = device(a, &input.serial_number).ok_or_else(|| no_such_device(&input.serial_number))?;
            if enabling {
                if device.user_id.is_some() {
                    return Err(IamException::EntityAlreadyExistsException.error("MFA Device is already in use."));
                }
                if a.map_or(0, |a| a.mfa_devices_of(&owner).count()) >= MFA_DEVICES_PER_USER {
                    return Err(IamException::LimitExceededException
                        .error(format!("Cannot exceed quota for MFADevicesPerUser: {MFA_DEVICES_PER_USER}")));
                }
            } else if device.user_id.as_deref() != Some(owner.as_str()) {
                return Err(no_such_device(&input.serial_number));
            }
            (device.clone(), owner)
        };
        if !self.mfa_throttle.allows(&device.serial, call.time_ms) {
            return Err(invalid_codes());
        }
        let now = step_of(call.time_ms.div_euclid(1000));
        let steps = if enabling {
            now - ENABLE_WINDOW_STEPS..=now
        } else {
            now - RESYNC_WINDOW_STEPS..=now + RESYNC_WINDOW_STEPS
        };
        let seed = self.open_seed(&account, &device)?;
        let code1 = input.authentication_code1.as_str();
        let code2 = input.authentication_code2.as_str();
        let found = consecutive(&seed, steps, code1, code2).filter(|s| *s > device.last_step);
        let Some(first) = found else {
            self.mfa_throttle.failed(&device.serial, call.time_ms);
            return Err(invalid_codes());
        };
        self.mfa_throttle.succeeded(&device.serial);
        device.last_step = first + 1;
        device.drift = first + 1 - now;
        if enabling {
            device.user_id = Some(user_id);
            device.enable_date = Some(now_seconds(call));
        }
        let resources = vec![mfa_resource(&device.serial)];
        let change = self.store_device(guard, account, device)?;
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn enable_mfa_device(&self, call: &Call, input: DeviceCodesInput) -> Result<Outcome, AwsError> {
        self.check_codes(call, input, true).await
    }

    pub(crate) async fn resync_mfa_device(&self, call: &Call, input: DeviceCodesInput) -> Result<Outcome, AwsError> {
        self.check_codes(call, input, false).await
    }

    /// Who a device request is for: the user it names, or the calling user.
    /// The account root has no user name: it names itself by its account id
    /// (or by naming no one), and its devices are assigned to `ROOT_OWNER`.
    fn named_user_id(&self, call: &Call, a: Option<&AccountState>, name: Option<&str>) -> Result<String, AwsError> {
        let names_root = |n: &str| n == call.caller.account().as_str() && a.and_then(|a| a.user(n)).is_none();
        if call.caller.is_root() && name.is_none_or(names_root) {
            return Ok(ROOT_OWNER.to_string());
        }
        crate::named_user(call, a, name).map(|(id, _)| id)
    }

    pub(crate) async fn deactivate_mfa_device(&self, call: &Call, input: UserDeviceInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let mut device = {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            let user_id = self.named_user_id(call, a, input.user_name.as_deref())?;
            let device = device(a, &input.serial_number).filter(|d| d.user_id.as_deref() == Some(user_id.as_str()));
            device.cloned().ok_or_else(|| no_such_device(&input.serial_number))?
        };
        device.user_id = None;
        device.enable_date = None;
        let resources = vec![mfa_resource(&device.serial)];
        let change = self.store_device(guard, account, device)?;
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn delete_virtual_mfa_device(&self, call: &Call, input: SerialInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let serial = {
            let state = self.state.read();
            let device = device(state.accounts.get(&account), &input.serial_number)
                .filter(|d| !d.hardware)
                .ok_or_else(|| no_such_device(&input.serial_number))?;
            if device.user_id.is_some() {
                return Err(
                    IamException::DeleteConflictException.error("MFA VirtualDevice in use. Must deactivate first.")
                );
            }
            device.serial.clone()
        };
        let writes = vec![delete(MFA_KIND, &account, &serial)];
        let resources = vec![mfa_resource(&serial)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.mfa_devices.remove(&serial);
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) fn get_mfa_device(&self, call: &Call, input: UserDeviceInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let a = state.accounts.get(account);
        let device = device(a, &input.serial_number).ok_or_else(|| no_such_device(&input.serial_number))?;
        let owner = device.user_id.as_deref().and_then(|id| a.and_then(|a| a.user_by_id(id)));
        if let Some(name) = &input.user_name {
            if !owner.is_some_and(|u| u.name.eq_ignore_ascii_case(name)) {
                return Err(no_such_device(&input.serial_number));
            }
        }
        let mut output = json!({ "SerialNumber": device.serial });
        if let Some(user) = owner {
            output.set("UserName", json!(user.name));
        }
        if let Some(date) = device.enable_date {
            output.set("EnableDate", json!(date));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) fn list_mfa_devices(&self, call: &Call, input: ListMfaDevicesInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let a = state.accounts.get(account);
        let user_id = self.named_user_id(call, a, input.user_name.as_deref())?;
        let empty = AccountState::default();
        let a = a.unwrap_or(&empty);
        let user_name = match a.user_by_id(&user_id) {
            Some(user) => user.name.clone(),
            None => account.to_string(),
        };
        let listed = a.mfa_devices.iter().filter(|(_, d)| d.user_id.as_deref() == Some(user_id.as_str()));
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items
            .into_iter()
            .map(|d| json!({ "UserName": user_name, "SerialNumber": d.serial, "EnableDate": d.enable_date }))
            .collect();
        Ok(Outcome::read(page_output("MFADevices", items, next)))
    }

    pub(crate) fn list_virtual_mfa_devices(
        &self,
        call: &Call,
        input: ListVirtualMfaDevicesInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(account).unwrap_or(&empty);
        let wanted = |d: &MfaDevice| {
            !d.hardware
                && match input.assignment_status.as_deref() {
                    Some("Assigned") => d.user_id.is_some(),
                    Some("Unassigned") => d.user_id.is_none(),
                    _ => true,
                }
        };
        let listed = a.mfa_devices.iter().filter(|(_, d)| wanted(d));
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items
            .into_iter()
            .map(|d| {
                let mut item = json!({ "SerialNumber": d.serial });
                match d.user_id.as_deref() {
                    Some(ROOT_OWNER) => item.set(
                        "User",
                        json!({"UserId": account.as_str(), "Arn": format!("arn:aws:iam::{account}:root"), "CreateDate": a.create_date}),
                    ),
                    Some(id) => {
                        if let Some(user) = a.user_by_id(id) {
                            item.set("User", user_json(account, user, false));
                        }
                    }
                    None => {}
                }
                if let Some(date) = d.enable_date {
                    item.set("EnableDate", json!(date));
                }
                if !d.tags.is_empty() {
                    item.set("Tags", tags_json(&d.tags));
                }
                item
            })
            .collect();
        Ok(Outcome::read(page_output("VirtualMFADevices", items, next)))
    }

    /// STS's MFA check: `code` must be a fresh code of `serial`, a device
    /// enabled for the calling user. The returned change stores that the
    /// code was used; commit it with the call, so that it works only once
    /// even across restarts.
    pub async fn verify_mfa_code(
        &self,
        caller: &Principal,
        serial: &str,
        code: Option<&str>,
        now_ms: i64,
    ) -> Result<Change, MfaRefusal> {
        let (account, user_id) = match caller {
            Principal::User { account, user_id, .. } => (account, user_id.as_str()),
            Principal::Root { account } => (account, ROOT_OWNER),
            _ => return Err(MfaRefusal::UnknownDevice),
        };
        let guard = self.lock().await;
        let mut device = {
            let state = self.state.read();
            let device = device(state.accounts.get(account), serial).filter(|d| d.user_id.as_deref() == Some(user_id));
            device.cloned().ok_or(MfaRefusal::UnknownDevice)?
        };
        let code = code.ok_or(MfaRefusal::InvalidCode)?;
        if !self.mfa_throttle.allows(&device.serial, now_ms) {
            return Err(MfaRefusal::InvalidCode);
        }
        let seed = self.open_seed(account, &device).map_err(|_| MfaRefusal::InvalidCode)?;
        let expected = step_of(now_ms.div_euclid(1000)) + device.drift;
        let steps = expected - SIGN_IN_WINDOW_STEPS..=expected + SIGN_IN_WINDOW_STEPS;
        let Some(step) = totp::find_step(&seed, steps, code).filter(|s| *s > device.last_step) else {
            self.mfa_throttle.failed(&device.serial, now_ms);
            return Err(MfaRefusal::InvalidCode);
        };
        self.mfa_throttle.succeeded(&device.serial);
        device.last_step = step;
        self.store_device(guard, account.clone(), device).map_err(|_| MfaRefusal::InvalidCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_codes_find_their_step() {
        let seed = b"12345678901234567890";
        let (c1, c2) = (totp::code_at(seed, 500), totp::code_at(seed, 501));
        assert_eq!(consecutive(seed, 490..=510, &c1, &c2), Some(500));
        assert_eq!(consecutive(seed, 490..=510, &c2, &c1), None);
        assert_eq!(consecutive(seed, 501..=510, &c1, &c2), None);
    }
}
