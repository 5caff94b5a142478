//! Test fixture: an action that ignores its input and returns `{}`, so the
//! flow bench can measure what a step costs when the guest does no work: a
//! fresh `Store`, instantiation, one call and teardown.
//!
//! It uses wit-bindgen directly because `sluice-sdk` would parse the config
//! and the context. On native targets the crate is empty.

#[cfg(target_arch = "wasm32")]
#[expect(
    unsafe_code,
    reason = "the export! macro that wit-bindgen generates here defines the unsafe ABI exports"
)]
mod component {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "sluice:flow/action",
    });

    use exports::sluice::flow::action_step::{ActionOutput, Guest};
    use sluice::flow::types::{StepError, StepInput};

    struct Noop;

    impl Guest for Noop {
        fn run(_input: StepInput) -> Result<ActionOutput, StepError> {
            Ok(ActionOutput {
                value: "{}".to_owned(),
                user: None,
                tenant: None,
            })
        }
    }

    export!(Noop);
}
