//! Timestamps on the wire: ISO 8601 in XML and query strings, epoch seconds in
//! JSON and CBOR. Inside Rampart they are epoch seconds (`f64`).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `2015-08-30T12:36:00Z`, with milliseconds only when there are some.
pub fn format_iso8601(epoch_seconds: f64) -> String {
    let nanos = (epoch_seconds * 1e9).round() as i128;
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return "1970-01-01T00:00:00Z".to_string();
    };
    let millis = t.millisecond();
    if millis == 0 {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            millis
        )
    }
}

/// Parses what clients send for a timestamp: ISO 8601 / RFC 3339 (with or
/// without fractional seconds or offset) or epoch seconds as a string.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let t =
        OffsetDateTime::parse(text, &Rfc3339).or_else(|_| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339)).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(format_iso8601(1440938160.0), "2015-08-30T12:36:00Z");
        assert_eq!(format_iso8601(1440938160.5), "2015-08-30T12:36:00.500Z");
        assert_eq!(parse_timestamp("2015-08-30T12:36:00Z"), Some(1440938160.0));
        assert_eq!(parse_timestamp("2015-08-30T12:36:00.5Z"), Some(1440938160.5));
        assert_eq!(parse_timestamp("2015-08-30T12:36:00"), Some(1440938160.0));
        assert_eq!(parse_timestamp("2015-08-30T14:36:00+02:00"), Some(1440938160.0));
        assert_eq!(parse_timestamp("1440938160"), Some(1440938160.0));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
