//! The `export_*!` macros that make a type the component's export.
//!
//! On wasm32 a macro implements the generated guest trait of its world by
//! reading the config and context JSON, calling the author's type, and
//! converting the result back. On native targets it only checks that the
//! type implements the trait, so the same crate builds for unit tests.

/// Exports a type that implements [`Action`](crate::Action) as the
/// component's `action-step`. Needs the `action` feature of `sluice-sdk`,
/// and the dependency must keep the name `sluice_sdk`.
///
/// ```no_run
/// # use sluice_sdk::{Action, ActionOutput, Context, StepError};
/// struct Noop;
///
/// impl Action for Noop {
///     type Config = serde_json::Value;
///
///     fn run(_config: serde_json::Value, _context: &Context) -> Result<ActionOutput, StepError> {
///         Ok(ActionOutput::value(serde_json::Value::Null))
///     }
/// }
///
/// sluice_sdk::export_action!(Noop);
/// ```
#[cfg(all(target_arch = "wasm32", feature = "action"))]
#[macro_export]
macro_rules! export_action {
    ($action:ty) => {
        const _: () = {
            struct SluiceActionExport;

            impl $crate::__private::bindings::exports::sluice::flow::action_step::Guest
                for SluiceActionExport
            {
                fn run(
                    input: $crate::__private::bindings::sluice::flow::types::StepInput,
                ) -> ::core::result::Result<
                    $crate::__private::bindings::exports::sluice::flow::action_step::ActionOutput,
                    $crate::__private::bindings::sluice::flow::types::StepError,
                > {
                    $crate::__private::run_action::<$action>(input)
                }
            }

            $crate::__private::bindings::__export_action_world!(SluiceActionExport);
        };
    };
}

/// Exports a type that implements [`Condition`](crate::Condition) as the
/// component's `condition-step`. Needs the `condition` feature of
/// `sluice-sdk`, and the dependency must keep the name `sluice_sdk`.
///
/// ```no_run
/// # use sluice_sdk::{Condition, Context, StepError};
/// struct HasUser;
///
/// impl Condition for HasUser {
///     type Config = serde_json::Value;
///
///     fn evaluate(_config: serde_json::Value, context: &Context) -> Result<String, StepError> {
///         Ok(context.user().is_some().to_string())
///     }
/// }
///
/// sluice_sdk::export_condition!(HasUser);
/// ```
#[cfg(all(target_arch = "wasm32", feature = "condition"))]
#[macro_export]
macro_rules! export_condition {
    ($condition:ty) => {
        const _: () = {
            struct SluiceConditionExport;

            impl $crate::__private::bindings::exports::sluice::flow::condition_step::Guest
                for SluiceConditionExport
            {
                fn evaluate(
                    input: $crate::__private::bindings::sluice::flow::types::StepInput,
                ) -> ::core::result::Result<
                    ::std::string::String,
                    $crate::__private::bindings::sluice::flow::types::StepError,
                > {
                    $crate::__private::evaluate_condition::<$condition>(input)
                }
            }

            $crate::__private::bindings::__export_condition_world!(SluiceConditionExport);
        };
    };
}

/// Exports a type that implements [`Connector`](crate::Connector) as the
/// component's `connector-step`. Needs the `connector` feature of
/// `sluice-sdk`, and the dependency must keep the name `sluice_sdk`.
///
/// ```no_run
/// # use sluice_sdk::{Connector, StepError};
/// struct Constant;
///
/// impl Connector for Constant {
///     type Config = serde_json::Value;
///
///     fn run(config: serde_json::Value) -> Result<serde_json::Value, StepError> {
///         Ok(config)
///     }
/// }
///
/// sluice_sdk::export_connector!(Constant);
/// ```
#[cfg(all(target_arch = "wasm32", feature = "connector"))]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        const _: () = {
            struct SluiceConnectorExport;

            impl $crate::__private::bindings::exports::sluice::flow::connector_step::Guest
                for SluiceConnectorExport
            {
                fn run(
                    config: ::std::string::String,
                ) -> ::core::result::Result<
                    ::std::string::String,
                    $crate::__private::bindings::sluice::flow::types::StepError,
                > {
                    $crate::__private::run_connector::<$connector>(config)
                }
            }

            $crate::__private::bindings::__export_connector_world!(SluiceConnectorExport);
        };
    };
}

// Native targets: check the trait bound only. Tests call the type through
// `sluice_sdk::mock`.

/// Exports a type that implements [`Action`](crate::Action) as the
/// component's `action-step`. Needs the `action` feature of `sluice-sdk`,
/// and the dependency must keep the name `sluice_sdk`.
///
/// On native targets the macro only checks that the type implements
/// [`Action`](crate::Action).
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! export_action {
    ($action:ty) => {
        const _: () = {
            const fn assert_action<T: $crate::Action>() {}
            assert_action::<$action>();
        };
    };
}

/// Exports a type that implements [`Condition`](crate::Condition) as the
/// component's `condition-step`. Needs the `condition` feature of
/// `sluice-sdk`, and the dependency must keep the name `sluice_sdk`.
///
/// On native targets the macro only checks that the type implements
/// [`Condition`](crate::Condition).
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! export_condition {
    ($condition:ty) => {
        const _: () = {
            const fn assert_condition<T: $crate::Condition>() {}
            assert_condition::<$condition>();
        };
    };
}

/// Exports a type that implements [`Connector`](crate::Connector) as the
/// component's `connector-step`. Needs the `connector` feature of
/// `sluice-sdk`, and the dependency must keep the name `sluice_sdk`.
///
/// On native targets the macro only checks that the type implements
/// [`Connector`](crate::Connector).
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        const _: () = {
            const fn assert_connector<T: $crate::Connector>() {}
            assert_connector::<$connector>();
        };
    };
}

// Wasm32 without the world's feature: report which feature to enable.

/// Reports that the `action` feature of `sluice-sdk` is missing.
#[cfg(all(target_arch = "wasm32", not(feature = "action")))]
#[macro_export]
macro_rules! export_action {
    ($action:ty) => {
        ::core::compile_error!(
            "export_action! needs the `action` feature: depend on sluice-sdk with `features = [\"action\"]`"
        );
    };
}

/// Reports that the `condition` feature of `sluice-sdk` is missing.
#[cfg(all(target_arch = "wasm32", not(feature = "condition")))]
#[macro_export]
macro_rules! export_condition {
    ($condition:ty) => {
        ::core::compile_error!(
            "export_condition! needs the `condition` feature: depend on sluice-sdk with `features = [\"condition\"]`"
        );
    };
}

/// Reports that the `connector` feature of `sluice-sdk` is missing.
#[cfg(all(target_arch = "wasm32", not(feature = "connector")))]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        ::core::compile_error!(
            "export_connector! needs the `connector` feature: depend on sluice-sdk with `features = [\"connector\"]`"
        );
    };
}
