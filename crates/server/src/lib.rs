//! The server: HTTP (plain or TLS), the request pipeline, and the node that
//! owns the store and the services. Only this crate knows HTTP.

mod audit;
mod auth;
mod authz;
mod errors;
mod http;
mod node;
mod pipeline;
mod refusals;
mod shares;
mod tasks;

pub use http::serve;
pub use node::{Config, Limits, RootCredentials, StartError};
