//! Each model's operations and exceptions as Rust enums, so that a service
//! names them as types rather than strings: a misspelt operation or error
//! does not build, and a model that gains or loses one changes the enum. An
//! exception's code and HTTP status come from the model, in one place
//! (`ServiceModel::error`): handlers never choose a status.
//!
//! The lists in `operations_generated.rs` are written from `models/*.json` by
//! the test `generated_operations_are_current`, which fails when the file is
//! stale; `RAMPART_REGENERATE=1 cargo test -p rampart-wire generated_operations`
//! rewrites it.

use crate::{AwsError, ServiceId};

/// An operation of one service's model.
pub trait OperationId: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// The service whose model defines it.
    const SERVICE: ServiceId;
    /// Every operation of the model, sorted by name.
    const ALL: &'static [Self];
    /// The model's name of the operation, e.g. `CreateUser`.
    fn name(self) -> &'static str;
    /// The operation a model name names.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.binary_search_by(|op| op.name().cmp(name)).ok().and_then(|i| Self::ALL.get(i).copied())
    }
}

macro_rules! operations {
    ($($(#[$doc:meta])* $enum:ident, $service:expr, [$($op:ident),* $(,)?];)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum $enum {
                $($op,)*
            }

            impl OperationId for $enum {
                const SERVICE: ServiceId = $service;
                const ALL: &'static [Self] = &[$(Self::$op,)*];
                fn name(self) -> &'static str {
                    match self {
                        $(Self::$op => stringify!($op),)*
                    }
                }
            }
        )*
    };
}

/// An exception shape of one service's model.
pub trait ExceptionId: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    const SERVICE: ServiceId;
    /// The model's shape name, e.g. `NoSuchEntityException`.
    fn name(self) -> &'static str;
    /// The error with this message, its code and HTTP status from the model
    /// (IAM's `NoSuchEntityException` is code `NoSuchEntity`, status 404).
    fn error(self, message: impl Into<String>) -> AwsError {
        Self::SERVICE.model().error(self.name(), message)
    }
}

macro_rules! exceptions {
    ($($(#[$doc:meta])* $enum:ident, $service:expr, [$($shape:ident),* $(,)?];)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $enum {
                $($shape,)*
            }

            impl ExceptionId for $enum {
                const SERVICE: ServiceId = $service;
                fn name(self) -> &'static str {
                    match self {
                        $(Self::$shape => stringify!($shape),)*
                    }
                }
            }
        )*
    };
}

include!("operations_generated.rs");

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the Rust enum of a service's operations.
    fn enum_name(service: ServiceId) -> &'static str {
        match service {
            ServiceId::Iam => "IamOperation",
            ServiceId::Sts => "StsOperation",
            ServiceId::Ec2 => "Ec2Operation",
            ServiceId::Kms => "KmsOperation",
            ServiceId::CloudTrail => "CloudTrailOperation",
            ServiceId::Config => "ConfigOperation",
            ServiceId::Logs => "LogsOperation",
            ServiceId::Monitoring => "MonitoringOperation",
        }
    }

    /// The text of `operations_generated.rs` for the models as they are.
    fn render_generated() -> String {
        let mut out = String::from(
            "// @generated from models/*.json by the test `generated_operations_are_current`\n\
             // (`RAMPART_REGENERATE=1 cargo test -p rampart-wire generated_operations`). Do not edit.\n\n\
             operations! {\n",
        );
        for service in ServiceId::ALL {
            let mut names: Vec<&str> = service.model().operations.keys().map(String::as_str).collect();
            names.sort_unstable();
            out.push_str(&format!("    /// The operations of the {} model.\n", service.signing_name()));
            out.push_str(&format!("    {}, ServiceId::{service:?}, [\n", enum_name(service)));
            for name in names {
                out.push_str(&format!("        {name},\n"));
            }
            out.push_str("    ];\n");
        }
        out.push_str("}\n\nexceptions! {\n");
        for service in ServiceId::ALL {
            let model = service.model();
            let mut names: Vec<&str> =
                model.shapes.iter().filter(|(_, s)| s.exception).map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            out.push_str(&format!("    /// The exceptions of the {} model.\n", service.signing_name()));
            out.push_str(&format!(
                "    {}, ServiceId::{service:?}, [\n",
                enum_name(service).replace("Operation", "Exception")
            ));
            for name in names {
                out.push_str(&format!("        {name},\n"));
            }
            out.push_str("    ];\n");
        }
        out.push_str("}\n");
        out
    }

    #[test]
    fn generated_operations_are_current() {
        let expected = render_generated();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/operations_generated.rs");
        if std::env::var_os("RAMPART_REGENERATE").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap();
        assert!(
            actual == expected,
            "src/operations_generated.rs is stale: run RAMPART_REGENERATE=1 cargo test -p rampart-wire generated_operations"
        );
    }

    /// Whether `name` is an operation of `service`'s model, by its enum.
    fn is_modelled(service: ServiceId, name: &str) -> bool {
        fn has<O: OperationId>(name: &str) -> bool {
            O::from_name(name).is_some()
        }
        match service {
            ServiceId::Iam => has::<IamOperation>(name),
            ServiceId::Sts => has::<StsOperation>(name),
            ServiceId::Ec2 => has::<Ec2Operation>(name),
            ServiceId::Kms => has::<KmsOperation>(name),
            ServiceId::CloudTrail => has::<CloudTrailOperation>(name),
            ServiceId::Config => has::<ConfigOperation>(name),
            ServiceId::Logs => has::<LogsOperation>(name),
            ServiceId::Monitoring => has::<MonitoringOperation>(name),
        }
    }

    #[test]
    fn names_round_trip_and_every_model_operation_has_a_variant() {
        assert_eq!(IamOperation::from_name("CreateUser"), Some(IamOperation::CreateUser));
        assert_eq!(IamOperation::CreateUser.name(), "CreateUser");
        assert_eq!(IamOperation::from_name("createuser"), None);
        assert_eq!(KmsOperation::from_name("Encrypt").map(KmsOperation::name), Some("Encrypt"));
        for service in ServiceId::ALL {
            for name in service.model().operations.keys() {
                assert!(is_modelled(service, name), "{service:?} {name}");
            }
            assert!(!is_modelled(service, "NoSuchOperation"));
        }
        assert_eq!(Ec2Operation::ALL.len(), ServiceId::Ec2.model().operations.len());
    }

    #[test]
    fn exceptions_take_code_and_status_from_the_model() {
        let e = IamException::NoSuchEntityException.error("gone");
        assert_eq!((e.code.as_str(), e.status, e.message.as_str()), ("NoSuchEntity", 404, "gone"));
        let e = IamException::EntityAlreadyExistsException.error("twice");
        assert_eq!((e.code.as_str(), e.status), ("EntityAlreadyExists", 409));
        let e = StsException::ExpiredTokenException.error("late");
        assert_eq!((e.code.as_str(), e.status), ("ExpiredTokenException", 400));
        let e = KmsException::NotFoundException.error("no key");
        assert_eq!((e.code.as_str(), e.status), ("NotFoundException", 400));
        let e = CloudTrailException::InvalidNextTokenException.error("bad token");
        assert_eq!(e.code, "InvalidNextTokenException");
    }
}
