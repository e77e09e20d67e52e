//! Hardware TOTP tokens: the seed file an operator gets from the token's
//! vendor, and their registration at start-up (`rampart serve
//! --hardware-mfa-tokens FILE`). On AWS the vendor registers a token's seed
//! with AWS; here the operator does, and the registered token is then an MFA
//! device of the node's account that a user enables by its serial number
//! (`mfa`). The file is read once per start; a serial already registered is
//! left as it is, so the file can be removed after the first start.

use serde_json::json;
use zeroize::Zeroizing;

use rampart_core::{AccountId, Change, ServiceEvent, ServiceId, SystemChange};

use crate::mfa::{mfa_resource, seed_context};
use crate::state::{MfaDevice, State, MFA_KIND};
use crate::{put, Iam};

/// RFC 4226's shortest shared secret: 128 bits.
const MIN_SEED_BYTES: usize = 16;

/// One token of a seed file: its serial number and its seed.
pub struct HardwareToken {
    serial: String,
    seed: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for HardwareToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HardwareToken").field("serial", &self.serial).field("seed", &"**redacted**").finish()
    }
}

/// The tokens of a seed file: one `SERIAL,BASE32SEED` per line (blank lines
/// and `#` comments ignored). A serial is 9 to 256 of IAM's serial-number
/// characters and not an ARN (those name virtual devices); a seed is at least
/// 128 bits. Errors name the line, never its text: it holds a seed.
pub fn parse_hardware_tokens(text: &str) -> Result<Vec<HardwareToken>, String> {
    let mut tokens: Vec<HardwareToken> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index + 1;
        let (serial, seed) =
            line.split_once(',').ok_or_else(|| format!("line {number}: expected SERIAL,BASE32SEED"))?;
        let serial = serial.trim();
        let serial_chars = |c: char| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c);
        if !(9..=256).contains(&serial.len()) || !serial.chars().all(serial_chars) || serial.starts_with("arn:") {
            return Err(format!("line {number}: the serial number is not one IAM accepts for a hardware token"));
        }
        let normalized: Zeroizing<String> = Zeroizing::new(
            seed.chars().filter(|c| !c.is_whitespace() && *c != '=').map(|c| c.to_ascii_uppercase()).collect(),
        );
        let seed = data_encoding::BASE32_NOPAD
            .decode(normalized.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| format!("line {number}: the seed is not Base32"))?;
        if seed.len() < MIN_SEED_BYTES {
            return Err(format!("line {number}: the seed is shorter than 128 bits"));
        }
        if tokens.iter().any(|t| t.serial == serial) {
            return Err(format!("line {number}: serial number {serial} is listed twice"));
        }
        tokens.push(HardwareToken { serial: serial.to_string(), seed });
    }
    Ok(tokens)
}

impl Iam {
    /// Registers `tokens` as unassigned hardware MFA devices of `account`,
    /// each sealed and recorded as an IAM service event; serials already
    /// registered are skipped.
    pub async fn register_hardware_tokens(
        &self,
        account: &AccountId,
        tokens: &[HardwareToken],
        now: f64,
    ) -> Result<Option<SystemChange>, String> {
        let guard = self.lock().await;
        let mut writes = Vec::new();
        let mut events = Vec::new();
        let mut devices = Vec::new();
        {
            let state = self.state.read();
            let known = |serial: &str| state.accounts.get(account).is_some_and(|a| a.mfa_devices.contains_key(serial));
            for token in tokens.iter().filter(|t| !known(&t.serial)) {
                let context = seed_context(account, &token.serial, true);
                let device = MfaDevice {
                    serial: token.serial.clone(),
                    create_date: now,
                    sealed_seed: self.sealer.seal(&token.seed, &context).map_err(|e| e.to_string())?,
                    user_id: None,
                    enable_date: None,
                    last_step: 0,
                    drift: 0,
                    tags: Vec::new(),
                    hardware: true,
                };
                writes.push(put(MFA_KIND, account, &device.serial, &device).map_err(|e| e.message)?);
                events.push(ServiceEvent {
                    source: ServiceId::Iam.event_source(),
                    invoked_by: None,
                    account: account.clone(),
                    region: "us-east-1".to_string(),
                    event_name: "RegisterHardwareMFADevice".to_string(),
                    read_only: false,
                    resources: vec![mfa_resource(&device.serial)],
                    details: json!({ "reason": "--hardware-mfa-tokens", "serialNumber": device.serial }),
                });
                devices.push(device);
            }
        }
        if devices.is_empty() {
            return Ok(None);
        }
        let state = self.state.clone();
        let account = account.clone();
        let apply = Box::new(move || {
            let mut state: parking_lot::RwLockWriteGuard<'_, State> = state.write();
            let a = state.accounts.entry(account).or_default();
            for device in devices {
                a.mfa_devices.insert(device.serial.clone(), device);
            }
            drop(guard);
        });
        Ok(Some(SystemChange { change: Change { writes, apply }, events }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_files_are_read_and_their_errors_never_show_a_seed() {
        let tokens = parse_hardware_tokens(
            "# vendor export\n\nGAHT12345678, JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP\nGAHT87654321,jbswy3dpehpk3pxpjbswy3dpehpk3pxp==\n",
        )
        .unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].serial, "GAHT12345678");
        assert_eq!(tokens[0].seed.as_slice(), tokens[1].seed.as_slice());
        assert_eq!(tokens[0].seed.len(), 20);
        assert!(!format!("{tokens:?}").contains("JBSW"));
        for (text, error) in [
            ("GAHT12345678 JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "line 1: expected SERIAL,BASE32SEED"),
            ("short,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "line 1: the serial number is not one IAM accepts"),
            ("arn:aws:iam::1:mfa/x,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "line 1: the serial number is not one IAM"),
            ("GAHT12345678,not base32 at all!", "line 1: the seed is not Base32"),
            ("\nGAHT12345678,JBSWY3DPEHPK3PXP", "line 2: the seed is shorter than 128 bits"),
        ] {
            let got = parse_hardware_tokens(text).unwrap_err();
            assert!(got.starts_with(error), "{text}: {got}");
            assert!(!got.contains("JBSW") && !got.contains("base32 at"), "{got}");
        }
        let twice = "GAHT12345678,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\nGAHT12345678,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        assert!(parse_hardware_tokens(twice).unwrap_err().contains("listed twice"));
    }

    proptest::proptest! {
        /// Any file text is read without panicking, and no error quotes the
        /// seed column of any line.
        #[test]
        fn any_seed_file_is_read_safely(serial in "[A-Z0-9:,.@/-]{0,20}", seed in "[A-Za-z2-7= !]{0,60}",
                                        junk in "\\PC{0,40}") {
            let text = format!("{junk}\n{serial},{seed}\n");
            if let Err(error) = parse_hardware_tokens(&text) {
                let secret = seed.trim();
                proptest::prop_assert!(secret.len() < 4 || !error.contains(secret), "{error}");
            }
        }
    }
}
