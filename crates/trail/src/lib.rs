//! CloudTrail service: LookupEvents over the audit records.
