//! Guest SDK for writing Sluice flow components in Rust.
//!
//! A Sluice management flow is a graph of steps, and every step is a
//! WebAssembly component that targets one world of the `sluice:flow` WIT
//! package: `action` (reads and changes users, tenants, consent and audit
//! events), `connector` (calls an outside service over HTTP) or `condition`
//! (picks a branch). With this crate a component is a plain Rust type that
//! implements [`Action`], [`Connector`] or [`Condition`], with its
//! configuration read through serde, exported with one macro.
//!
//! ```no_run
//! use sluice_sdk::{users, Action, ActionOutput, Context, StepError};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! struct Config {
//!     login_id: String,
//! }
//!
//! struct LoadUser;
//!
//! impl Action for LoadUser {
//!     type Config = Config;
//!
//!     fn run(config: Config, _context: &Context) -> Result<ActionOutput, StepError> {
//!         let user = users::load_by_login_id(&config.login_id)?;
//!         Ok(ActionOutput::user(user))
//!     }
//! }
//!
//! sluice_sdk::export_action!(LoadUser);
//! ```
//!
//! # Building
//!
//! A component crate is a `cdylib` (add `rlib` to unit test it) that
//! depends on this crate with exactly one of the features `action`,
//! `connector` or `condition`. Build it with
//! `cargo build --target wasm32-wasip2 --release`; the target emits a
//! component directly. Cargo merges the features of every crate in one
//! build, so build each component with its own `cargo build -p <crate>`.
//!
//! # Testing
//!
//! On native targets every host call goes to the in-memory [`mock::MockHost`]
//! installed on the test's thread, and [`mock::run_action`] and its siblings
//! run a component through the same config and context parsing as the wasm
//! export, so `cargo test` needs no wasm runtime.
//!
//! # Host calls
//!
//! | module | worlds |
//! | --- | --- |
//! | [`users`], [`tenants`], [`consent`], [`audit`] | action |
//! | [`log`] | action, connector |
//! | [`config`], [`http`] | connector |
//!
//! On wasm32 a module exists only when the selected world imports its
//! interface. On native targets every module exists.

extern crate self as sluice_sdk;

#[cfg(all(
    target_arch = "wasm32",
    any(
        all(feature = "action", feature = "connector"),
        all(feature = "action", feature = "condition"),
        all(feature = "connector", feature = "condition"),
    )
))]
compile_error!(
    "sluice-sdk: enable exactly one of the features `action`, `connector` and `condition` \
     when building for wasm32. A component targets one world; if Cargo merged the features \
     of several components, build each one with its own `cargo build -p <crate>`."
);

mod context;
mod error;
mod export;
mod host;
mod output;
mod step;
mod types;

#[cfg(any(not(target_arch = "wasm32"), feature = "action"))]
pub mod audit;
#[cfg(any(not(target_arch = "wasm32"), feature = "connector"))]
pub mod config;
#[cfg(any(not(target_arch = "wasm32"), feature = "action"))]
pub mod consent;
#[cfg(any(not(target_arch = "wasm32"), feature = "connector"))]
pub mod http;
#[cfg(any(not(target_arch = "wasm32"), feature = "action", feature = "connector"))]
pub mod log;
#[cfg(any(not(target_arch = "wasm32"), feature = "action"))]
pub mod tenants;
#[cfg(any(not(target_arch = "wasm32"), feature = "action"))]
pub mod users;

#[cfg(not(target_arch = "wasm32"))]
pub mod mock;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use context::Context;
pub use error::StepError;
pub use output::ActionOutput;
pub use step::{Action, Condition, Connector, parse_config};
pub use types::{
    AuditEvent, AuditType, JsonObject, NewAuditEvent, NewUser, Tenant, User, UserPage, UserPatch,
    UserQuery, UserStatus, UserTenant,
};
