//! The AWS wire protocols, driven by botocore's service models.
//!
//! `decode` turns an HTTP request of a known service into an operation and an
//! input value shaped by the model; `encode_output` and `encode_error` turn
//! values back into the bytes each protocol's clients expect. Handlers never
//! see XML, form parameters, JSON or CBOR.
//!
//! The value tree is `serde_json::Value` keyed by the model's member names, with
//! timestamps as epoch seconds and blobs as base64 strings, whatever the protocol.
//!
//! Pure: no I/O, no async, no clock.

mod cbor;
mod error;
mod json;
mod model;
mod operations;
mod protocol;
mod query;
mod timestamp;
mod validate;
mod xml;

pub use error::{AwsError, CommonError};
pub use model::{MemberRef, Metadata, Operation, Pattern, ServiceId, ServiceModel, Shape, ShapeType};
pub use operations::{
    CloudTrailException, CloudTrailOperation, ConfigException, ConfigOperation, Ec2Exception, Ec2Operation,
    ExceptionId, IamException, IamOperation, KmsException, KmsOperation, LogsException, LogsOperation,
    MonitoringException, MonitoringOperation, OperationId, StsException, StsOperation,
};
pub use protocol::{
    decode, detect_protocol, encode_error, encode_output, operation_name, Decoded, EncodedResponse, Protocol,
    WireRequest,
};
pub use timestamp::{format_iso8601, parse_timestamp};
pub use validate::{redact_sensitive, undefined_output_members, validate};
