//! The host behind the SDK's host-call wrappers: the generated bindings on
//! wasm32, the thread-local mock host everywhere else.

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "action", feature = "connector", feature = "condition")
))]
mod wasm;

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "action", feature = "connector", feature = "condition")
))]
pub(crate) use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::mock::backend::*;
