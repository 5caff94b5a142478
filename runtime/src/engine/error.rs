//! Errors of loading and running components.

use serde::Serialize;

/// Cause of a step failure, as recorded in the run trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The guest rejected its configuration.
    InvalidConfig,
    /// An object the step needs does not exist.
    NotFound,
    /// The operation is not allowed.
    Denied,
    /// A remote service failed.
    UpstreamFailure,
    /// The guest reported another failure.
    Internal,
    /// The guest trapped or panicked.
    Trap,
    /// The step ran past its deadline.
    Timeout,
    /// The guest tried to grow memory past its cap.
    MemoryLimit,
    /// The guest returned more data than allowed.
    OutputLimit,
    /// The guest returned data that breaks the step contract.
    InvalidOutput,
    /// The guest used up its instruction budget (fuel).
    FuelExhausted,
    /// The guest overflowed its Wasm stack, for example by deep recursion.
    StackOverflow,
    /// The guest made more host calls than allowed.
    HostCallLimit,
    /// The guest passed more data to one host call than allowed.
    HostDataLimit,
    /// The guest needed more tables, table elements or instances than allowed.
    ResourceLimit,
    /// Every instance slot of the host's pooling allocator was in use.
    Capacity,
    /// The run passed its deadline while this step ran.
    RunTimeout,
}

impl ErrorKind {
    /// Returns the kind as the trace spells it, for example `not-found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidConfig => "invalid-config",
            Self::NotFound => "not-found",
            Self::Denied => "denied",
            Self::UpstreamFailure => "upstream-failure",
            Self::Internal => "internal",
            Self::Trap => "trap",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory-limit",
            Self::OutputLimit => "output-limit",
            Self::InvalidOutput => "invalid-output",
            Self::FuelExhausted => "fuel-exhausted",
            Self::StackOverflow => "stack-overflow",
            Self::HostCallLimit => "host-call-limit",
            Self::HostDataLimit => "host-data-limit",
            Self::ResourceLimit => "resource-limit",
            Self::Capacity => "capacity",
            Self::RunTimeout => "run-timeout",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed step: its kind and a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StepFailure {
    /// Cause of the failure.
    pub kind: ErrorKind,
    /// Description for the operator.
    pub message: String,
}

impl StepFailure {
    /// Creates a failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Reason a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a valid WebAssembly component.
    #[error("component `{reference}` is not a valid WebAssembly component: {reason}")]
    Invalid {
        /// The component reference.
        reference: String,
        /// Compiler message.
        reason: String,
    },
    /// The component exports none of the Sluice step interfaces.
    #[error(
        "component `{reference}` targets no Sluice world: it exports {found}, but a step \
         component must export one of {expected}; build it against the `action`, \
         `connector` or `condition` world of wit/flow.wit"
    )]
    WrongWorld {
        /// The component reference.
        reference: String,
        /// Exports the component has.
        found: String,
        /// The exports that would fit.
        expected: String,
    },
    /// The component imports something its world does not provide.
    #[error(
        "component `{reference}` exports {export} (the {world} world) but cannot be \
         linked: {reason}. A {world} component may import only what the {world} world \
         of wit/flow.wit lists"
    )]
    Link {
        /// The component reference.
        reference: String,
        /// The world the component targets.
        world: &'static str,
        /// The step export found.
        export: String,
        /// The linker's message, naming the missing import.
        reason: String,
    },
    /// Reading or writing the compiled-component cache failed.
    #[error("component cache at {path}: {reason}")]
    Cache {
        /// Cache file or folder.
        path: String,
        /// What failed.
        reason: String,
    },
}
