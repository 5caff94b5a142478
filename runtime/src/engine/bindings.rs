//! Host-side bindings for the `sluice:flow` worlds, generated from `wit/`.
//!
//! The `action` world generates the shared `types` and `log` interfaces. The
//! other worlds reuse them through `with`, so a `User` or `StepError` is one
//! Rust type no matter which world a component targets.
//!
//! Every import may trap: a host call returns [`HostError`](crate::host::HostError),
//! which is either a `step-error` for the guest or a broken host-call limit
//! that stops the guest at once.

#![expect(missing_docs, reason = "generated code; the WIT file documents every item")]

/// Bindings for the `action` world.
pub mod action {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sluice:flow/action",
        imports: { default: trappable },
        trappable_error_type: {
            "sluice:flow/types.step-error" => crate::host::HostError,
        },
    });
}

/// Bindings for the `connector` world.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sluice:flow/connector",
        require_store_data_send: true,
        imports: { default: trappable },
        trappable_error_type: {
            "sluice:flow/types.step-error" => crate::host::HostError,
        },
        with: {
            "sluice:flow/types": super::action::sluice::flow::types,
            "sluice:flow/log": super::action::sluice::flow::log,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

/// Bindings for the `condition` world.
pub mod condition {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sluice:flow/condition",
        imports: { default: trappable },
        trappable_error_type: {
            "sluice:flow/types.step-error" => crate::host::HostError,
        },
        with: {
            "sluice:flow/types": super::action::sluice::flow::types,
        },
    });
}

pub use action::sluice::flow::types;
pub use action::sluice::flow::log;
