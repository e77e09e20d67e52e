//! IAM service: users and access keys.
