//! Items the `export_*!` macros expand to. Not part of the public API.

#[cfg(target_arch = "wasm32")]
pub use wit_bindgen;

/// Bindings generated from `wit/flow.wit` for the world the crate's feature
/// selects.
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    unused_qualifications,
    reason = "generated canonical ABI glue; rustc reports these lints only when \
              WIT_BINDGEN_DEBUG=1 makes the generated code a real file"
)]
pub mod bindings {
    #[cfg(feature = "action")]
    wit_bindgen::generate!({
        path: "wit",
        world: "sluice:flow/action",
        runtime_path: "::sluice_sdk::__private::wit_bindgen::rt",
        default_bindings_module: "::sluice_sdk::__private::bindings",
        export_macro_name: "__export_action_world",
        pub_export_macro: true,
    });

    #[cfg(feature = "connector")]
    wit_bindgen::generate!({
        path: "wit",
        world: "sluice:flow/connector",
        runtime_path: "::sluice_sdk::__private::wit_bindgen::rt",
        default_bindings_module: "::sluice_sdk::__private::bindings",
        export_macro_name: "__export_connector_world",
        pub_export_macro: true,
        generate_all,
    });

    #[cfg(feature = "condition")]
    wit_bindgen::generate!({
        path: "wit",
        world: "sluice:flow/condition",
        runtime_path: "::sluice_sdk::__private::wit_bindgen::rt",
        default_bindings_module: "::sluice_sdk::__private::bindings",
        export_macro_name: "__export_condition_world",
        pub_export_macro: true,
    });
}

#[cfg(all(target_arch = "wasm32", feature = "action"))]
pub use action_export::run_action;

#[cfg(all(target_arch = "wasm32", feature = "action"))]
mod action_export {
    use super::bindings::exports::sluice::flow::action_step::ActionOutput;
    use super::bindings::sluice::flow::types::{StepError, StepInput};
    use crate::host::{error_to_wit, tenant_to_wit, user_to_wit};
    use crate::step::{self, Action};

    /// Runs action `T` for the `run` export.
    pub fn run_action<T: Action>(input: StepInput) -> Result<ActionOutput, StepError> {
        let output = step::run_action::<T>(&input.config, &input.context).map_err(error_to_wit)?;
        Ok(ActionOutput {
            value: output.value.to_string(),
            user: output.user.as_ref().map(user_to_wit),
            tenant: output.tenant.as_ref().map(tenant_to_wit),
        })
    }
}

/// Evaluates condition `T` for the `evaluate` export.
#[cfg(all(target_arch = "wasm32", feature = "condition"))]
pub fn evaluate_condition<T: crate::step::Condition>(
    input: bindings::sluice::flow::types::StepInput,
) -> Result<String, bindings::sluice::flow::types::StepError> {
    crate::step::evaluate_condition::<T>(&input.config, &input.context)
        .map_err(crate::host::error_to_wit)
}

/// Runs connector `T` for the `run` export.
#[cfg(all(target_arch = "wasm32", feature = "connector"))]
pub fn run_connector<T: crate::step::Connector>(
    config: String,
) -> Result<String, bindings::sluice::flow::types::StepError> {
    crate::step::run_connector::<T>(&config)
        .map(|value| value.to_string())
        .map_err(crate::host::error_to_wit)
}
