//! An in-memory host for native unit tests of components.
//!
//! On native targets every host call of the SDK ([`users`](crate::users),
//! [`tenants`](crate::tenants), [`consent`](crate::consent),
//! [`audit`](crate::audit), [`log`](crate::log), [`config`](crate::config)
//! and [`http`](crate::http)) goes to the [`MockHost`] installed on the
//! current thread. Cargo runs each test on its own thread, so tests do not
//! share a host.
//!
//! ```
//! use serde_json::json;
//! use sluice_sdk::mock::{self, MockHost};
//! use sluice_sdk::{users, Action, ActionOutput, Context, StepError, User};
//!
//! struct Disable;
//!
//! impl Action for Disable {
//!     type Config = serde_json::Value;
//!
//!     fn run(_config: serde_json::Value, context: &Context) -> Result<ActionOutput, StepError> {
//!         let user_id = context.user_id().ok_or_else(|| StepError::not_found("the flow has no current user"))?;
//!         let user = users::set_status(user_id, sluice_sdk::UserStatus::Disabled)?;
//!         Ok(ActionOutput::user(user))
//!     }
//! }
//!
//! let host = MockHost::new()
//!     .with_user(User { user_id: "U1".into(), login_ids: vec!["ada".into()], ..User::default() })
//!     .install();
//!
//! let output = mock::run_action::<Disable>(json!({}), json!({"user": {"userId": "U1"}})).unwrap();
//!
//! assert_eq!(output.value["status"], "disabled");
//! assert_eq!(host.user("U1").unwrap().status, sluice_sdk::UserStatus::Disabled);
//! ```
//!
//! The mock follows the host contract in `wit/flow.wit`. Where the WIT
//! leaves a case open, it takes the stricter reading, so that a component
//! tested against it also works against the real host:
//!
//! - A login id taken by another user (as primary or additional login id)
//!   and an empty login id are `invalid-config`.
//! - A missing user or tenant is `not-found`, also for `delete`.
//! - A tenant membership in `create`, `update` or `add-tenant` must name an
//!   existing tenant (`not-found`). The host fills in the tenant name.
//! - Roles with a tenant id change the roles inside that tenant and require
//!   the user to be a member of it (`invalid-config` otherwise).
//! - `add-tenant` for a tenant the user already belongs to adds the roles;
//!   `remove-tenant` for a tenant the user does not belong to changes
//!   nothing.
//! - Patched custom attributes merge into the user's, and keys whose value
//!   is `null` are removed.
//! - A tenant needs a non-empty name; an empty id makes the host generate
//!   one, and a taken id is `invalid-config`.
//! - Consent needs an existing user and a non-empty application id.
//! - An audit event needs a non-empty action. It is stored with the actor id
//!   of the mock run (see [`MockHost::with_actor_id`]) and the mock clock.
//! - An HTTP request with no canned response fails with
//!   `upstream-failure`, like a request the host cannot deliver.
//!
//! Login ids compare exactly, case included.

pub(crate) mod backend;
mod state;

use std::cell::RefCell;
use std::marker::PhantomData;

use serde_json::Value;

use crate::context::Context;
use crate::error::StepError;
use crate::http::{Method, Request, Response};
use crate::log::Level;
use crate::output::ActionOutput;
use crate::step::{self, Action, Condition, Connector};
use crate::types::{AuditEvent, Tenant, User};

pub(crate) use state::MockState;

thread_local! {
    /// Installed hosts, innermost last. A guard pops its host when dropped.
    static INSTALLED: RefCell<Vec<MockState>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the innermost host installed on this thread.
///
/// # Panics
///
/// Panics when no host is installed, because a host call in a test without
/// one is a mistake in the test.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut MockState) -> R) -> R {
    INSTALLED.with(|installed| {
        let mut installed = installed.borrow_mut();
        let state = installed.last_mut().unwrap_or_else(|| {
            panic!(
                "a component made a host call, but no MockHost is installed on this thread; \
                 call `MockHost::new().install()` at the start of the test and keep the guard alive"
            )
        });
        f(state)
    })
}

/// One log message a component wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// Message text.
    pub message: String,
}

/// A builder for the in-memory host of one test.
///
/// Add the users, tenants, consents, connector settings and canned HTTP
/// responses the component needs, then call [`MockHost::install`].
#[derive(Debug, Clone, Default)]
pub struct MockHost {
    state: MockState,
}

impl MockHost {
    /// Creates an empty host. Its clock reads 1,700,000,000 seconds since
    /// the Unix epoch (November 2023) until changed with
    /// [`MockHost::with_time`].
    pub fn new() -> Self {
        MockHost::default()
    }

    /// Adds a user as given. An empty `user_id` gets a generated one. A
    /// user with the same id replaces the earlier one; no other check runs,
    /// so a test can set up any state.
    pub fn with_user(mut self, user: User) -> Self {
        self.state.insert_user(user);
        self
    }

    /// Adds a tenant as given. An empty `id` gets a generated one.
    pub fn with_tenant(mut self, tenant: Tenant) -> Self {
        self.state.insert_tenant(tenant);
        self
    }

    /// Records that the user granted `scopes` of application `app_id`.
    pub fn with_consent<S: AsRef<str>>(
        mut self,
        user_id: &str,
        app_id: &str,
        scopes: &[S],
    ) -> Self {
        let scopes: Vec<String> = scopes
            .iter()
            .map(|scope| scope.as_ref().to_string())
            .collect();
        self.state.set_consent(user_id, app_id, scopes);
        self
    }

    /// Sets a connector configuration value, read with
    /// [`config::get`](crate::config::get).
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.state.config.insert(key.into(), value.into());
        self
    }

    /// Sets a connector secret, read with
    /// [`config::secret`](crate::config::secret).
    pub fn with_secret(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.state.secrets.insert(name.into(), value.into());
        self
    }

    /// Responds to requests with this method and exact URL (query string
    /// included) with `response`. A later response for the same request
    /// replaces the earlier one.
    pub fn with_http_response(
        mut self,
        method: Method,
        url: impl Into<String>,
        response: Response,
    ) -> Self {
        self.state.http.insert((method, url.into()), Ok(response));
        self
    }

    /// Fails requests with this method and exact URL with a transport
    /// error, which [`http::send`](crate::http::send) returns as
    /// [`StepError::UpstreamFailure`] with `message`.
    pub fn with_http_error(
        mut self,
        method: Method,
        url: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.state
            .http
            .insert((method, url.into()), Err(message.into()));
        self
    }

    /// Sets the mock clock, in seconds since the Unix epoch. New users get
    /// it as their creation time and audit events as their time (in
    /// milliseconds).
    pub fn with_time(mut self, seconds: u64) -> Self {
        self.state.now_seconds = seconds;
        self
    }

    /// Sets the actor id of emitted audit events; `run:mock` by default.
    pub fn with_actor_id(mut self, actor_id: impl Into<String>) -> Self {
        self.state.actor_id = actor_id.into();
        self
    }

    /// Installs the host on the current thread until the returned guard is
    /// dropped. Installing another host while one is installed shadows it,
    /// and dropping the inner guard brings the outer host back.
    pub fn install(self) -> MockGuard {
        let depth = INSTALLED.with(|installed| {
            let mut installed = installed.borrow_mut();
            installed.push(self.state);
            installed.len()
        });
        MockGuard {
            depth,
            not_send: PhantomData,
        }
    }
}

/// Keeps a [`MockHost`] installed and reads its state. Dropping it
/// uninstalls the host.
#[derive(Debug)]
#[must_use = "the mock host is uninstalled as soon as the guard is dropped"]
pub struct MockGuard {
    depth: usize,
    /// The host lives in a thread-local, so the guard stays on its thread.
    not_send: PhantomData<*const ()>,
}

impl MockGuard {
    fn read<R>(&self, f: impl FnOnce(&MockState) -> R) -> R {
        INSTALLED.with(|installed| {
            let installed = installed.borrow();
            let state = installed
                .get(self.depth - 1)
                .unwrap_or_else(|| panic!("the mock host of this guard is no longer installed"));
            f(state)
        })
    }

    /// Returns every user, in the order they were added or created.
    pub fn users(&self) -> Vec<User> {
        self.read(|state| state.users.clone())
    }

    /// Returns the user with this id.
    pub fn user(&self, user_id: &str) -> Option<User> {
        self.read(|state| {
            state
                .users
                .iter()
                .find(|user| user.user_id == user_id)
                .cloned()
        })
    }

    /// Returns every tenant, in the order they were added or created.
    pub fn tenants(&self) -> Vec<Tenant> {
        self.read(|state| state.tenants.clone())
    }

    /// Returns the tenant with this id.
    pub fn tenant(&self, tenant_id: &str) -> Option<Tenant> {
        self.read(|state| {
            state
                .tenants
                .iter()
                .find(|tenant| tenant.id == tenant_id)
                .cloned()
        })
    }

    /// Returns the scopes the user granted to application `app_id`.
    pub fn consents(&self, user_id: &str, app_id: &str) -> Vec<String> {
        self.read(|state| state.consent(user_id, app_id))
    }

    /// Returns every emitted audit event, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.read(|state| state.audit_events.clone())
    }

    /// Returns every log message, oldest first.
    pub fn logs(&self) -> Vec<LogLine> {
        self.read(|state| state.logs.clone())
    }

    /// Returns every HTTP request sent, oldest first, including those that
    /// failed.
    pub fn requests(&self) -> Vec<Request> {
        self.read(|state| state.requests.clone())
    }
}

impl Drop for MockGuard {
    fn drop(&mut self) {
        INSTALLED.with(|installed| installed.borrow_mut().truncate(self.depth - 1));
    }
}

/// Runs action `T` the way the wasm export does: the config and context go
/// through JSON text, the config is deserialized into `T::Config`, and a
/// deserialization failure is [`StepError::InvalidConfig`].
///
/// # Errors
///
/// Returns the action's error, or the error of reading its input.
pub fn run_action<T: Action>(config: Value, context: Value) -> Result<ActionOutput, StepError> {
    step::run_action::<T>(&config.to_string(), &context.to_string())
}

/// Evaluates condition `T` the way the wasm export does and returns the
/// branch name.
///
/// # Errors
///
/// Returns the condition's error, or the error of reading its input.
pub fn evaluate_condition<T: Condition>(
    config: Value,
    context: Value,
) -> Result<String, StepError> {
    step::evaluate_condition::<T>(&config.to_string(), &context.to_string())
}

/// Runs connector `T` the way the wasm export does.
///
/// # Errors
///
/// Returns the connector's error, or the error of reading its config.
pub fn run_connector<T: Connector>(config: Value) -> Result<Value, StepError> {
    step::run_connector::<T>(&config.to_string())
}

/// Returns a context with only a current user, a shorthand for tests.
pub fn context_with_user(user: &User) -> Value {
    let user = serde_json::to_value(user).unwrap_or(Value::Null);
    serde_json::json!({ "user": user })
}

/// Reads a context value the way components receive it, a shorthand for
/// tests of helpers that take a [`Context`].
pub fn context(value: Value) -> Context {
    Context::new(value)
}

#[cfg(test)]
mod tests;
