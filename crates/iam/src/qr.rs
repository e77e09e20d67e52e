//! The QR code CreateVirtualMFADevice returns: the `otpauth://` URI an
//! authenticator app reads, drawn as a PNG.

use qrcodegen::{QrCode, QrCodeEcc};

/// Pixels per module, and the quiet zone in modules that readers need.
const SCALE: usize = 6;
const BORDER: usize = 4;

/// AWS's URI: `otpauth://totp/$virtualMFADeviceName@$AccountName?secret=$Base32String`,
/// with the account name the calling user's name or else the account id.
pub(crate) fn otpauth_uri(device_name: &str, account_name: &str, base32_seed: &str) -> String {
    let label = format!("{device_name}@{account_name}");
    let label: String = form_escape(&label);
    format!("otpauth://totp/{label}?secret={base32_seed}")
}

/// Percent-encodes what a URI path may not hold as is. Device and user names
/// are `[\w+=,.@-]`, so in practice only `+`, `=` and `,` are escaped.
fn form_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A grayscale PNG of `text` as a QR code; `None` only if the text is too
/// long for any QR code (far longer than a URI of IAM's names).
pub(crate) fn png(text: &str) -> Option<Vec<u8>> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let modules = usize::try_from(code.size()).ok()?;
    let side = (modules + 2 * BORDER) * SCALE;
    let mut pixels = vec![0xffu8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if !code.get_module(x as i32, y as i32) {
                continue;
            }
            for dy in 0..SCALE {
                let row = ((y + BORDER) * SCALE + dy) * side;
                let start = row + (x + BORDER) * SCALE;
                if let Some(run) = pixels.get_mut(start..start + SCALE) {
                    run.fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_aws_format() {
        assert_eq!(otpauth_uri("alice", "alice", "ABC234"), "otpauth://totp/alice@alice?secret=ABC234");
        assert_eq!(otpauth_uri("a+b", "123456789012", "X"), "otpauth://totp/a%2Bb@123456789012?secret=X");
    }

    #[test]
    fn png_has_signature_and_size() {
        let image = png("otpauth://totp/alice@alice?secret=ABC234").expect("a png");
        assert_eq!(image.get(..8), Some(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a][..]));
        let decoder = png::Decoder::new(std::io::Cursor::new(image));
        let reader = decoder.read_info().expect("a readable png");
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % SCALE, 0);
    }
}
