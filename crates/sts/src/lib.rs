//! STS service.
