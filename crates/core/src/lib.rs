//! Shared types: accounts, principals, errors, audit records, the service interface.
