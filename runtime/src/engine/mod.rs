//! The wasmtime host: loads components, checks them against their world and
//! runs one step at a time, each in a fresh sandboxed `Store`.

pub mod bindings;
mod cache;
mod egress;
mod egress_client;
mod error;
mod limits;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

pub use self::egress::{EgressPolicy, is_private};
pub use self::egress_client::{EgressClient, EgressError, EgressResponse, read_ca_file};
pub use self::error::{ErrorKind, LoadError, StepFailure};
pub use self::limits::{StepLimits, StepResources};
pub use self::state::StepState;
pub use sluice_flow::World;

use self::bindings::types::{StepError, StepInput};
use self::bindings::{action, condition, connector};
use self::cache::ComponentCache;
use crate::host::HostContext;
use crate::host::convert::{tenant_from_wit, user_from_wit};
use crate::model;

/// Export names that identify each world, in the order they are tried.
const WORLD_EXPORTS: [(&str, World); 3] = [
    ("sluice:flow/action-step@0.1.0", World::Action),
    ("sluice:flow/connector-step@0.1.0", World::Connector),
    ("sluice:flow/condition-step@0.1.0", World::Condition),
];

/// wasmtime's default Wasm stack size, 512 KiB.
pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;

/// Settings of the [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Folder for compiled components; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Steps that may run at the same time; the pooling allocator reserves
    /// slots for this many instances up front.
    pub max_instances: u32,
    /// Hard cap on any step's linear memory, in bytes. A step's own memory
    /// limit may be lower, never higher.
    pub max_memory_bytes: usize,
    /// Interval of the epoch clock that enforces step deadlines. Deadlines
    /// are rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Rules for connectors' outbound HTTP requests.
    pub egress: EgressPolicy,
    /// Whether steps count fuel, so that [`StepLimits::fuel`] can bound
    /// the instructions a step runs. Off by default: metering adds a check
    /// to every loop and call of every step, also of steps without a budget.
    pub fuel: bool,
    /// Native stack that Wasm frames may use, in bytes, for every step.
    /// wasmtime sets it per engine, so no step can have its own. It must stay
    /// well below the stack of the threads that run steps (2 MiB for Rust's
    /// and tokio's threads), because host calls run on the rest.
    pub max_wasm_stack: usize,
    /// Tables, table elements and instances each step may create.
    pub step_resources: StepResources,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 128,
            max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(1),
            egress: EgressPolicy::default(),
            fuel: false,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            step_resources: StepResources::default(),
        }
    }
}

/// A compiled component, checked against its world and ready to instantiate.
pub struct LoadedComponent {
    reference: String,
    world: World,
    digest: String,
    pre: WorldPre,
}

enum WorldPre {
    Action(action::ActionPre<StepState>),
    Connector(connector::ConnectorPre<StepState>),
    Condition(condition::ConditionPre<StepState>),
}

impl LoadedComponent {
    /// Returns the reference the component was loaded under.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Returns the world the component targets.
    pub fn world(&self) -> World {
        self.world
    }

    /// Returns the SHA-256 digest of the component's bytes, in hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("reference", &self.reference)
            .field("world", &self.world)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// The result of a step that succeeded.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per step and moved straight into the context; boxing buys nothing"
)]
pub enum StepOutput {
    /// An action's result and the current user and tenant it set, if any.
    Action {
        /// Stored at `actions.<context key>`.
        value: Value,
        /// New current user.
        user: Option<model::User>,
        /// New current tenant.
        tenant: Option<model::Tenant>,
    },
    /// A connector's result, stored at `connectors.<context key>`.
    Connector(Value),
    /// The branch a condition picked.
    Condition(String),
}

/// The component host: one wasmtime engine, one linker per world and the
/// epoch clock that enforces deadlines.
pub struct Engine {
    inner: wasmtime::Engine,
    action_linker: Linker<StepState>,
    connector_linker: Linker<StepState>,
    condition_linker: Linker<StepState>,
    cache: Option<ComponentCache>,
    epoch_tick: Duration,
    max_memory_bytes: usize,
    max_instances: u32,
    fuel: bool,
    max_wasm_stack: usize,
    step_resources: StepResources,
    egress: Arc<EgressPolicy>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// Creates an engine with the pooling allocator and starts its epoch clock.
    ///
    /// # Errors
    ///
    /// Fails when wasmtime rejects the configuration, for example when the
    /// machine cannot reserve virtual memory for the instance pool.
    pub fn new(settings: EngineSettings) -> wasmtime::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        let instances = settings.max_instances.max(1);
        // A Rust guest built for wasm32-wasip2 is one component with a few
        // core instances (the program and small shims), one memory and a
        // couple of tables. The multipliers leave headroom for other toolchains.
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_memory_size(settings.max_memory_bytes)
            // The step limiter enforces the per-step cap; the pool only has
            // to leave room for it.
            .table_elements(settings.step_resources.table_elements.max(DEFAULT_POOL_TABLE_ELEMENTS))
            // Keeping a little memory resident and zeroing it by hand beats
            // returning it to the kernel for small guests. Without
            // PAGEMAP_SCAN, keeping more than a guest uses makes teardown
            // slower, because all of it is zeroed.
            // NOTE: a step that makes a host call still takes 15 to 20 µs
            // against a 10 µs target (docs/benchmarks.md). Instantiation
            // and teardown in wasmtime take an estimated 5 µs of it, and the
            // guest's JSON handling most of the rest.
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(64 << 10)
            // With the PAGEMAP_SCAN ioctl (Linux 6.7 and later), the reset
            // after a step zeroes only the pages the guest wrote. Without it,
            // `Auto` zeroes the whole resident size as before.
            .pagemap_scan(Enabled::Auto);

        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(settings.fuel)
            .max_wasm_stack(settings.max_wasm_stack)
            .memory_init_cow(true)
            .concurrency_support(false)
            .wasm_component_model(true);
        let inner = wasmtime::Engine::new(&config)?;

        let cache = match settings.cache_dir {
            Some(dir) => Some(ComponentCache::open(dir, &inner).map_err(wasmtime::Error::msg)?),
            None => None,
        };

        let mut action_linker = Linker::new(&inner);
        wasmtime_wasi::p2::add_to_linker_sync(&mut action_linker)?;
        action::Action::add_to_linker::<_, HasSelf<StepState>>(&mut action_linker, |s| s)?;

        let mut connector_linker = Linker::new(&inner);
        wasmtime_wasi::p2::add_to_linker_sync(&mut connector_linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut connector_linker)?;
        bindings::log::add_to_linker::<_, HasSelf<StepState>>(&mut connector_linker, |s| s)?;
        connector::sluice::flow::connector_config::add_to_linker::<_, HasSelf<StepState>>(
            &mut connector_linker,
            |s| s,
        )?;

        let mut condition_linker = Linker::new(&inner);
        wasmtime_wasi::p2::add_to_linker_sync(&mut condition_linker)?;
        condition::Condition::add_to_linker::<_, HasSelf<StepState>>(&mut condition_linker, |s| s)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(inner.clone(), settings.epoch_tick, Arc::clone(&ticker_stop)).map_err(
            |err| wasmtime::Error::msg(format!("cannot start the epoch clock thread: {err}")),
        )?;

        Ok(Self {
            inner,
            action_linker,
            connector_linker,
            condition_linker,
            cache,
            epoch_tick: settings.epoch_tick,
            max_memory_bytes: settings.max_memory_bytes,
            max_instances: instances,
            fuel: settings.fuel,
            max_wasm_stack: settings.max_wasm_stack,
            step_resources: settings.step_resources,
            egress: Arc::new(settings.egress.clone()),
            ticker_stop,
        })
    }

    /// Compiles (or loads from the cache) a component, finds its world from
    /// its exports and prepares it for instantiation.
    ///
    /// # Errors
    ///
    /// Fails when the bytes are not a component, when the component exports
    /// no Sluice step interface, or when it imports something its world does
    /// not provide. The error names the component and the problem.
    pub fn load(&self, reference: &str, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        let digest = hex(&Sha256::digest(bytes));
        let compile = || {
            Component::new(&self.inner, bytes).map_err(|err| LoadError::Invalid {
                reference: reference.to_owned(),
                reason: one_line(&format!("{err:#}"), MAX_LOAD_REASON_CHARS),
            })
        };
        let component = match &self.cache {
            Some(cache) => cache.get_or_compile(&self.inner, &digest, compile)?,
            None => compile()?,
        };

        let component_type = component.component_type();
        let exports: Vec<String> = component_type
            .exports(&self.inner)
            .map(|(name, _)| name.to_owned())
            .collect();
        let Some((export, world)) = WORLD_EXPORTS
            .iter()
            .find(|(name, _)| exports.iter().any(|e| e == name))
            .copied()
        else {
            let found = if exports.is_empty() {
                "nothing".to_owned()
            } else {
                exports.join(", ")
            };
            return Err(LoadError::WrongWorld {
                reference: reference.to_owned(),
                found,
                expected: WORLD_EXPORTS.map(|(name, _)| name).join(", "),
            });
        };

        let link_error = |err: wasmtime::Error| LoadError::Link {
            reference: reference.to_owned(),
            world: world_name(world),
            export: export.to_owned(),
            reason: format!("{err:#}"),
        };
        let pre = match world {
            World::Action => WorldPre::Action(
                action::ActionPre::new(
                    self.action_linker
                        .instantiate_pre(&component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
            World::Connector => WorldPre::Connector(
                connector::ConnectorPre::new(
                    self.connector_linker
                        .instantiate_pre(&component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
            World::Condition => WorldPre::Condition(
                condition::ConditionPre::new(
                    self.condition_linker
                        .instantiate_pre(&component)
                        .map_err(link_error)?,
                )
                .map_err(link_error)?,
            ),
        };
        Ok(LoadedComponent {
            reference: reference.to_owned(),
            world,
            digest,
            pre,
        })
    }

    /// Runs one step of `component` in a fresh store.
    ///
    /// `config` is the rendered configuration and `context` the flow context,
    /// both JSON objects as text; connectors receive only `config`.
    ///
    /// # Errors
    ///
    /// Returns the guest's own error, or a trap, timeout or limit turned into
    /// a [`StepFailure`] of the matching kind; guest behavior does not make
    /// this function panic.
    pub fn run_step(
        &self,
        component: &LoadedComponent,
        config: String,
        context: String,
        limits: &StepLimits,
        host: HostContext,
    ) -> Result<StepOutput, StepFailure> {
        let limits = &StepLimits {
            memory_bytes: limits.memory_bytes.min(self.max_memory_bytes),
            ..*limits
        };
        if let Some(fuel) = limits.fuel
            && !self.fuel
        {
            return Err(StepFailure::new(
                ErrorKind::InvalidConfig,
                format!(
                    "the step has an instruction budget of {fuel} fuel units, but this host counts no \
                     fuel; set the server setting `step_fuel` to turn fuel on"
                ),
            ));
        }
        let mut store = Store::new(
            &self.inner,
            StepState::new(host, limits, self.step_resources, Arc::clone(&self.egress)),
        );
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(self.deadline_ticks(limits.timeout));
        if self.fuel {
            // Without a budget the step runs on the largest one, so only the
            // deadline bounds it.
            store
                .set_fuel(limits.fuel.unwrap_or(u64::MAX))
                .map_err(|err| StepFailure::new(ErrorKind::Internal, format!("cannot set the step's fuel: {err}")))?;
        }

        let result = match &component.pre {
            WorldPre::Action(pre) => pre
                .instantiate(&mut store)
                .and_then(|bindings| {
                    bindings
                        .sluice_flow_action_step()
                        .call_run(&mut store, &StepInput { config, context })
                })
                .map(|result| result.map(GuestOutput::Action)),
            WorldPre::Connector(pre) => pre
                .instantiate(&mut store)
                .and_then(|bindings| {
                    bindings
                        .sluice_flow_connector_step()
                        .call_run(&mut store, &config)
                })
                .map(|result| result.map(GuestOutput::Connector)),
            WorldPre::Condition(pre) => pre
                .instantiate(&mut store)
                .and_then(|bindings| {
                    bindings
                        .sluice_flow_condition_step()
                        .call_evaluate(&mut store, &StepInput { config, context })
                })
                .map(|result| result.map(GuestOutput::Condition)),
        };

        match result {
            // A host-call limit fails the step even when the guest ignored
            // the error its call returned.
            Ok(Ok(output)) => match &store.data().host.violation {
                Some(violation) => Err(violation.clone()),
                None => convert_output(output, limits),
            },
            Ok(Err(guest_error)) => Err(guest_failure(guest_error, store.data(), limits.memory_bytes)),
            Err(trap) => Err(self.trap_failure(&trap, store.data(), limits)),
        }
    }

    fn deadline_ticks(&self, timeout: Duration) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        let ticks = timeout.as_nanos().div_ceil(tick);
        // The epoch may advance right after the deadline is set, so one more
        // tick keeps a step from losing up to a whole tick of its time.
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// Turns a wasmtime error from instantiation or the call into a failure.
    fn trap_failure(
        &self,
        err: &wasmtime::Error,
        state: &StepState,
        limits: &StepLimits,
    ) -> StepFailure {
        if state.limiter.memory_exceeded {
            return StepFailure::new(
                ErrorKind::MemoryLimit,
                format!(
                    "the component tried to grow its memory past the limit of {} MiB",
                    limits.memory_bytes >> 20
                ),
            );
        }
        if let Some(violation) = &state.host.violation {
            return violation.clone();
        }
        if let Some(failure) = self.limit_trap_failure(err, state, limits) {
            return failure;
        }
        tracing::debug!(error = format!("{err:?}"), "Component trapped");
        let stderr = state.stderr_text();
        // The trap code alone ("wasm `unreachable` instruction executed");
        // the wasm backtrace stays in the debug log above.
        let detail = match err.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => err.root_cause().to_string(),
        };
        let message = if stderr.is_empty() {
            format!("the component trapped: {detail}")
        } else {
            format!("the component trapped: {detail}; its stderr: {stderr}")
        };
        StepFailure::new(ErrorKind::Trap, message)
    }

    /// Returns the failure for a trap or instantiation error that a limit
    /// caused, or `None` for a fault of the guest's own.
    fn limit_trap_failure(
        &self,
        err: &wasmtime::Error,
        state: &StepState,
        limits: &StepLimits,
    ) -> Option<StepFailure> {
        let resource_caps = || {
            let caps = self.step_resources;
            format!(
                "a step may create {} instances and {} tables of {} elements each, set by the \
                 server settings `step_max_instances`, `step_max_tables` and `step_max_table_elements`",
                caps.instances, caps.tables, caps.table_elements
            )
        };
        if state.limiter.table_exceeded {
            return Some(StepFailure::new(
                ErrorKind::ResourceLimit,
                format!("the component tried to grow a table past its limit: {}", resource_caps()),
            ));
        }
        if let Some(full) = err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            return Some(StepFailure::new(
                ErrorKind::Capacity,
                format!(
                    "the host has no free instance slot ({full}); the server setting \
                     `max_concurrent_runs` sizes the instance pool (pool size {}); retry the step later",
                    self.max_instances
                ),
            ));
        }
        // NOTE: wasmtime 48 reports the instance, memory and table counts of
        // a `ResourceLimiter` only in this message text; a test pins it.
        let root = err.root_cause().to_string();
        if root.starts_with("resource limit exceeded") {
            return Some(StepFailure::new(ErrorKind::ResourceLimit, format!("{root}: {}", resource_caps())));
        }
        let trap = err.downcast_ref::<wasmtime::Trap>()?;
        match trap {
            wasmtime::Trap::Interrupt => Some(StepFailure::new(
                ErrorKind::Timeout,
                format!(
                    "the step ran past its deadline of {} ms",
                    limits.timeout.as_millis()
                ),
            )),
            wasmtime::Trap::OutOfFuel => Some(StepFailure::new(
                ErrorKind::FuelExhausted,
                format!(
                    "the step used up its instruction budget of {} fuel units; a step may set \
                     `limits.fuel`, or a component `fuel` in its manifest, up to the server setting \
                     `step_fuel`",
                    limits.fuel.unwrap_or(u64::MAX)
                ),
            )),
            wasmtime::Trap::StackOverflow => Some(StepFailure::new(
                ErrorKind::StackOverflow,
                format!(
                    "the component overflowed its Wasm stack of {} KiB, for example by recursing too \
                     deep; the server setting `wasm_stack_kib` sets the size for every step",
                    self.max_wasm_stack >> 10
                ),
            )),
            _ => None,
        }
    }
}

#[expect(
    clippy::large_enum_variant,
    reason = "short-lived, converted right after the call"
)]
enum GuestOutput {
    Action(action::exports::sluice::flow::action_step::ActionOutput),
    Connector(String),
    Condition(String),
}

/// Checks and converts what a guest returned.
fn convert_output(output: GuestOutput, limits: &StepLimits) -> Result<StepOutput, StepFailure> {
    let check_size = |json: &str| {
        if json.len() > limits.output_bytes {
            Err(StepFailure::new(
                ErrorKind::OutputLimit,
                format!(
                    "the step returned {} bytes of output, more than its limit of {} bytes; a step may \
                     raise it with `limits.outputBytes`, or a component with `output_bytes` in its \
                     manifest, up to the server setting `max_step_output_bytes`",
                    json.len(),
                    limits.output_bytes
                ),
            ))
        } else {
            Ok(())
        }
    };
    let parse = |json: &str| -> Result<Value, StepFailure> {
        check_size(json)?;
        serde_json::from_str(json).map_err(|err| {
            StepFailure::new(
                ErrorKind::InvalidOutput,
                format!("the step returned invalid JSON: {err}"),
            )
        })
    };
    match output {
        GuestOutput::Action(out) => {
            let value = parse(&out.value)?;
            let user = out
                .user
                .map(user_from_wit)
                .transpose()
                .map_err(|err| StepFailure::new(ErrorKind::InvalidOutput, err))?;
            let tenant =
                out.tenant.map(tenant_from_wit).transpose().map_err(|err| {
                    StepFailure::new(ErrorKind::InvalidOutput, format!("{err:?}"))
                })?;
            Ok(StepOutput::Action {
                value,
                user,
                tenant,
            })
        }
        GuestOutput::Connector(json) => Ok(StepOutput::Connector(parse(&json)?)),
        GuestOutput::Condition(branch) => {
            check_size(&branch)?;
            Ok(StepOutput::Condition(branch))
        }
    }
}

/// Maps an error the guest returned to a failure, preferring what the host
/// saw: a guest that handles a failed allocation still hit its memory limit.
fn guest_failure(error: StepError, state: &StepState, memory_limit_bytes: usize) -> StepFailure {
    if state.limiter.memory_exceeded {
        let message = match &error {
            StepError::InvalidConfig(m)
            | StepError::NotFound(m)
            | StepError::Denied(m)
            | StepError::UpstreamFailure(m)
            | StepError::Internal(m) => m,
        };
        return StepFailure::new(
            ErrorKind::MemoryLimit,
            format!(
                "the component tried to grow its memory past the limit of {} MiB and then \
                 failed: {message}",
                memory_limit_bytes >> 20
            ),
        );
    }
    if let Some(violation) = &state.host.violation {
        return violation.clone();
    }
    if let Some(denial) = state.egress_denial() {
        return StepFailure::new(ErrorKind::Denied, denial);
    }
    match error {
        StepError::InvalidConfig(m) => StepFailure::new(ErrorKind::InvalidConfig, m),
        StepError::NotFound(m) => StepFailure::new(ErrorKind::NotFound, m),
        StepError::Denied(m) => StepFailure::new(ErrorKind::Denied, m),
        StepError::UpstreamFailure(m) => StepFailure::new(ErrorKind::UpstreamFailure, m),
        StepError::Internal(m) => StepFailure::new(ErrorKind::Internal, m),
    }
}

/// Elements per table that the pooling allocator reserves by default.
const DEFAULT_POOL_TABLE_ELEMENTS: usize = 20_000;

/// Maximum length of the compiler message kept in a [`LoadError`], in characters.
const MAX_LOAD_REASON_CHARS: usize = 300;

/// Joins a multi-line message into one line and cuts it at `max` characters.
/// wasmtime spreads some messages, such as a bad magic number with its
/// expected and actual bytes, over several lines.
fn one_line(message: &str, max: usize) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max {
        return joined;
    }
    let mut cut: String = joined.chars().take(max).collect();
    cut.push('…');
    cut
}

/// Returns the name of a world as the WIT file spells it.
pub fn world_name(world: World) -> &'static str {
    match world {
        World::Action => "action",
        World::Connector => "connector",
        World::Condition => "condition",
    }
}

fn spawn_epoch_ticker(
    engine: wasmtime::Engine,
    tick: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sluice-epoch".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}
