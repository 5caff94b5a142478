//! Runs a compiled flow: walks from the start step to an End step, running
//! each component step in the engine and keeping the flow context.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value, json};
use sluice_flow::{CompiledFlow, CompiledStep, ComponentCatalog, ErrorHandling, StepKind};

use crate::connectors::ConnectorResolver;
use crate::publish::{ComponentManifest, ProjectCatalog, PublishedComponent, PublishedComponents};
use crate::engine::{Engine, ErrorKind, StepFailure, StepLimits, StepOutput};
use crate::host::{ConnectorBinding, HostContext};
use crate::priority::{HeavyFlows, thread_cpu_time};
use crate::registry::ComponentRegistry;
use crate::store::{Actor, IdentityStore};

/// Limits of whole runs and the bounds of per-step limits.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Steps a run may take, End included, before it fails. Flows may loop,
    /// so this is what stops a loop that never exits.
    pub max_steps: u32,
    /// Wall-clock time a run may take, retries and their waits included.
    /// A flow's `limits.timeoutMs` may lower it, never raise it.
    pub run_timeout: Duration,
    /// Limits of a step that sets none.
    pub default_limits: StepLimits,
    /// Highest limits a flow step or a component manifest may request.
    /// `fuel: None` means the engine counts no fuel, so no step gets a
    /// budget, whatever it requests.
    pub max_limits: StepLimits,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            max_steps: 1_000,
            run_timeout: Duration::from_secs(60),
            default_limits: StepLimits::default(),
            max_limits: StepLimits {
                timeout: Duration::from_secs(30),
                memory_bytes: 256 << 20,
                output_bytes: 16 << 20,
                host_calls: 100_000,
                host_call_bytes: 16 << 20,
                fuel: None,
            },
        }
    }
}

/// One run to perform.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Project whose data the run reads and changes.
    pub project: String,
    /// Run inputs, available as `client.*`.
    pub input: Map<String, Value>,
    /// The audit event that started the run, available as `triggeringEvent.*`.
    pub triggering_event: Option<Value>,
    /// Run id; a new one is generated when `None`.
    pub run_id: Option<String>,
    /// Whether the trace keeps each step's output.
    pub keep_step_outputs: bool,
}

/// Final state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// An End step was reached.
    Completed,
    /// A step failed with automatic error handling, or a limit was hit.
    Failed,
}

/// Failure that ended a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFailure {
    /// Step that failed, if the failure belongs to one.
    pub step_id: Option<String>,
    /// Error kind, such as `not-found` or `timeout`.
    pub kind: String,
    /// What happened.
    pub message: String,
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step_id {
            Some(step) => write!(
                f,
                "step \"{step}\" failed ({}): {}",
                self.kind, self.message
            ),
            None => write!(f, "run failed ({}): {}", self.kind, self.message),
        }
    }
}

/// One executed step in a run's trace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTrace {
    /// Step id.
    pub step_id: String,
    /// Step kind.
    pub kind: StepKind,
    /// Component reference; none for End steps.
    pub component: Option<String>,
    /// Attempts made, more than one when the retry policy applied.
    pub attempts: u32,
    /// Time spent in the step, all attempts included, in microseconds.
    pub duration_us: u64,
    /// Outcome followed: `success`, `error`, a branch name, or `end`.
    pub outcome: String,
    /// Step result, kept when the request sets `keep_step_outputs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The step's error, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepFailure>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Run id.
    pub run_id: String,
    /// Flow id.
    pub flow_id: String,
    /// Flow version that ran.
    pub flow_version: u32,
    /// Final state.
    pub status: RunStatus,
    /// Outputs of the End step; empty when the run failed.
    pub output: Map<String, Value>,
    /// Failure that ended the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunFailure>,
    /// Executed steps in order.
    pub trace: Vec<StepTrace>,
    /// Time of the whole run, in microseconds.
    pub duration_us: u64,
}

/// Runs flows against an engine, a set of components and a store.
#[derive(Clone)]
pub struct Runtime {
    engine: Arc<Engine>,
    components: Arc<ComponentRegistry>,
    store: Arc<dyn IdentityStore>,
    settings: RunSettings,
    connectors: Option<Arc<ConnectorResolver>>,
    published: Option<Arc<PublishedComponents>>,
    /// Flows whose runs used much CPU; `None` when runs are not measured.
    heavy_flows: Option<Arc<HeavyFlows>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("components", &self.components)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Destination of a step's outcome.
enum Next {
    Step(usize),
    Fail(RunFailure),
}

impl Runtime {
    /// Creates a runtime.
    pub fn new(
        engine: Arc<Engine>,
        components: Arc<ComponentRegistry>,
        store: Arc<dyn IdentityStore>,
        settings: RunSettings,
    ) -> Self {
        Self {
            engine,
            components,
            store,
            settings,
            connectors: None,
            published: None,
            heavy_flows: None,
        }
    }

    /// Returns the runtime with the CPU time of each run recorded in
    /// `heavy_flows`.
    #[must_use]
    pub fn with_heavy_flows(mut self, heavy_flows: Arc<HeavyFlows>) -> Self {
        self.heavy_flows = Some(heavy_flows);
        self
    }

    /// Returns whether runs of the flow should start at low CPU priority,
    /// because a recent run of it used more CPU than the threshold.
    pub fn is_heavy(&self, project: &str, flow_id: &str) -> bool {
        self.heavy_flows
            .as_ref()
            .is_some_and(|flows| flows.is_heavy(project, flow_id))
    }

    /// Returns the runtime with steps able to run the components each
    /// project published.
    #[must_use]
    pub fn with_published(mut self, published: Arc<PublishedComponents>) -> Self {
        self.published = Some(published);
        self
    }

    /// Returns the published components, when this runtime runs them.
    pub fn published(&self) -> Option<&Arc<PublishedComponents>> {
        self.published.as_ref()
    }

    /// Returns the catalog that validates a project's flows: the host's
    /// components and, when this runtime runs them, the project's published ones.
    ///
    /// # Errors
    ///
    /// Fails when the store cannot list the published components.
    pub fn catalog(&self, project: &str) -> Result<Box<dyn ComponentCatalog + '_>, crate::store::StoreError> {
        match &self.published {
            Some(published) => Ok(Box::new(published.catalog(project, &self.components)?)),
            None => Ok(Box::new(ProjectCatalog::new(&self.components, BTreeMap::new()))),
        }
    }

    /// Returns the runtime with connector steps bound to the connector
    /// instances that `resolver` loads. Without one, a step that names an
    /// instance fails as not found.
    #[must_use]
    pub fn with_connectors(mut self, resolver: Arc<ConnectorResolver>) -> Self {
        self.connectors = Some(resolver);
        self
    }

    /// Returns the components this runtime runs.
    pub fn components(&self) -> &ComponentRegistry {
        &self.components
    }

    /// Returns the store the host calls use.
    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }

    /// Runs `flow` to an End step or to its first unhandled failure.
    pub fn run(&self, flow: &CompiledFlow, request: RunRequest) -> RunReport {
        let run_id = request
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let span = tracing::info_span!("run", flow.id = %flow.id, run.id = %run_id, project.id = %request.project);
        let _entered = span.enter();
        let started = Instant::now();
        let cpu_started = self
            .heavy_flows
            .as_ref()
            .filter(|flows| flows.is_enabled())
            .map(|_| thread_cpu_time());
        let run_timeout = self.run_timeout(flow);
        // A timeout too large for `Instant` arithmetic is treated as one year.
        let deadline = started
            .checked_add(run_timeout)
            .unwrap_or_else(|| started + Duration::from_secs(365 * 86_400));
        let mut run = RunState::new(flow, &request, run_id, deadline);
        let max_steps = flow
            .limits
            .max_steps
            .map_or(self.settings.max_steps, |steps| u32::try_from(steps).unwrap_or(u32::MAX))
            .min(self.settings.max_steps);
        let mut current = flow.start;
        let outcome = loop {
            if Instant::now() >= run.deadline {
                break Err(RunFailure {
                    step_id: Some(flow.steps[current].id.clone()),
                    kind: ErrorKind::RunTimeout.as_str().to_owned(),
                    message: run_timeout_message(run_timeout, "before this step started"),
                });
            }
            if run.steps_taken >= max_steps {
                break Err(RunFailure {
                    step_id: Some(flow.steps[current].id.clone()),
                    kind: "step-limit".to_owned(),
                    message: format!(
                        "the run took {max_steps} steps without reaching an End step; the flow may loop \
                         forever: check the exit condition of its loop. A flow may set \
                         `limits.maxSteps`, up to the server setting `max_steps`"
                    ),
                });
            }
            run.steps_taken += 1;
            let step = &flow.steps[current];
            if step.kind == StepKind::End {
                break self.finish(step, &mut run);
            }
            match self.run_component_step(flow, step, &mut run, &request) {
                Next::Step(index) => current = index,
                Next::Fail(failure) => break Err(failure),
            }
        };
        let duration_us = micros(started.elapsed());
        if let (Some(flows), Some(cpu_started)) = (&self.heavy_flows, cpu_started) {
            flows.observe(&request.project, &flow.id, thread_cpu_time().saturating_sub(cpu_started));
        }
        match outcome {
            Ok(output) => {
                tracing::debug!(duration_us, steps = run.trace.len(), "Run completed");
                run.report(RunStatus::Completed, output, None, duration_us)
            }
            Err(failure) => {
                tracing::info!(error = %failure, "Run failed");
                run.report(RunStatus::Failed, Map::new(), Some(failure), duration_us)
            }
        }
    }

    /// Renders the End step's outputs.
    fn finish(
        &self,
        step: &CompiledStep,
        run: &mut RunState<'_>,
    ) -> Result<Map<String, Value>, RunFailure> {
        let started = Instant::now();
        let mut output = Map::new();
        for out in &step.outputs {
            let rendered = out.value.render(&run.context);
            match out.output_type.coerce(rendered) {
                Ok(value) => {
                    output.insert(out.key.clone(), value);
                }
                Err(reason) => {
                    return Err(RunFailure {
                        step_id: Some(step.id.clone()),
                        kind: "invalid-output".to_owned(),
                        message: format!("output `{}`: {reason}", out.key),
                    });
                }
            }
        }
        run.trace.push(StepTrace {
            step_id: step.id.clone(),
            kind: StepKind::End,
            component: None,
            attempts: 1,
            duration_us: micros(started.elapsed()),
            outcome: "end".to_owned(),
            output: run.keep_outputs.then(|| Value::Object(output.clone())),
            error: None,
        });
        Ok(output)
    }

    fn run_component_step(
        &self,
        flow: &CompiledFlow,
        step: &CompiledStep,
        run: &mut RunState<'_>,
        request: &RunRequest,
    ) -> Next {
        let span = tracing::debug_span!("step", step.id = %step.id);
        let _entered = span.enter();
        let started = Instant::now();
        let reference = step.component.as_deref().unwrap_or_default();
        let (component, published) = match self.component(&request.project, reference) {
            Ok(found) => found,
            // Validation rejects unknown components, so this means the
            // component was removed after the flow was compiled.
            Err(message) => {
                return Next::Fail(RunFailure {
                    step_id: Some(step.id.clone()),
                    kind: "not-found".to_owned(),
                    message,
                });
            }
        };
        let manifest = published.as_ref().map(|published| &published.manifest);
        let limits = self.step_limits(step, manifest);
        // The step's deadline never reaches past the run's.
        let step_timeout = limits.timeout;
        let run_time_left = |run: &RunState<'_>| run.deadline.saturating_duration_since(Instant::now());
        let mut rendered = step.config.render(&run.context);
        // `async` belongs to the host, so the component never sees it, also
        // when the step runs in line because too many run detached.
        let detached = step.kind == StepKind::Connector
            && rendered
                .as_object_mut()
                .and_then(|config| config.remove("async"))
                .is_some_and(|value| value == Value::Bool(true));
        let config = serde_json::to_string(&rendered).unwrap_or_default();
        let context = if step.kind == StepKind::Connector {
            String::new()
        } else {
            run.context_json()
        };
        // A connector step whose instance cannot be bound fails like a step
        // whose component failed, so its error handling applies.
        let (connector, binding_failure) =
            match self.connector_binding(step, reference, &request.project, manifest) {
                Ok(binding) => (binding, None),
                Err(failure) => (ConnectorBinding::default(), Some(failure)),
            };
        let host = HostContext {
            project: request.project.clone(),
            flow_id: flow.id.clone(),
            run_id: run.run_id.clone(),
            step_id: step.id.clone(),
            store: Arc::clone(&self.store),
            actor: Actor::new(format!("flow:{}:{}", flow.id, run.run_id)),
            connector,
        };

        let mut attempts = 0;
        let result = if let Some(failure) = binding_failure {
            attempts = 1;
            Err(failure)
        } else if detached && self.detach(&component, &config, &limits, &host) {
            attempts = 1;
            Ok(StepOutput::Connector(json!({ "async": true })))
        } else {
            loop {
                attempts += 1;
                let time_left = run_time_left(run);
                let limits = StepLimits {
                    timeout: step_timeout.min(time_left),
                    ..limits
                };
                let result = self.engine.run_step(
                    &component,
                    config.clone(),
                    context.clone(),
                    &limits,
                    host.clone(),
                );
                let result = match result {
                    // The run's deadline, not the step's, interrupted it.
                    Err(failure) if failure.kind == ErrorKind::Timeout && time_left < step_timeout => {
                        Err(StepFailure::new(
                            ErrorKind::RunTimeout,
                            run_timeout_message(self.run_timeout(flow), "while this step ran"),
                        ))
                    }
                    other => other,
                };
                match &result {
                    Err(failure)
                        if attempts < max_attempts(step) && should_retry(step, failure) =>
                    {
                        let backoff = retry_backoff(step, attempts).max(retry_after(failure));
                        if backoff >= run_time_left(run) {
                            tracing::info!(attempt = attempts, error = %failure, "Not retrying: the run's deadline comes first");
                            break Err(StepFailure::new(
                                ErrorKind::RunTimeout,
                                format!(
                                    "{}; the last attempt failed with {failure}",
                                    run_timeout_message(self.run_timeout(flow), "before the next retry of this step")
                                ),
                            ));
                        }
                        tracing::info!(attempt = attempts, error = %failure, backoff_ms = backoff.as_millis(), "Retrying step");
                        std::thread::sleep(backoff);
                    }
                    _ => break result,
                }
            }
        };
        let duration_us = micros(started.elapsed());

        let (outcome, output, error) = match result {
            Ok(output) => {
                let (outcome, kept) = run.apply_output(step, output);
                (outcome, kept, None)
            }
            Err(failure) => {
                tracing::debug!(error = %failure, "Step failed");
                let outcome = match step.on_error {
                    ErrorHandling::Automatic => "error",
                    ErrorHandling::Ignore => "success",
                    ErrorHandling::Custom => "error",
                };
                run.store_error(step, &failure);
                (outcome.to_owned(), None, Some(failure))
            }
        };
        run.trace.push(StepTrace {
            step_id: step.id.clone(),
            kind: step.kind,
            component: step.component.clone(),
            attempts,
            duration_us,
            outcome: outcome.clone(),
            output,
            error: error.clone(),
        });

        // Error handling cannot continue a run whose time is up.
        if let Some(failure) = error
            && (step.on_error == ErrorHandling::Automatic || failure.kind == ErrorKind::RunTimeout)
        {
            return Next::Fail(RunFailure {
                step_id: Some(step.id.clone()),
                kind: failure.kind.as_str().to_owned(),
                message: failure.message,
            });
        }
        match step.next.get(&outcome) {
            Some(index) => Next::Step(*index),
            None => Next::Fail(RunFailure {
                step_id: Some(step.id.clone()),
                kind: "missing-edge".to_owned(),
                message: format!(
                    "the step ended with outcome `{outcome}` but has no `next.{outcome}` edge; add \
                     one, or handle the outcome with another branch"
                ),
            }),
        }
    }

    /// Starts a connector step on its own thread and returns whether it did.
    /// The run goes on at once and the step's outcome is only logged. When
    /// [`MAX_DETACHED_STEPS`] are already running, this returns false and
    /// the step runs in line, which bounds the threads a flood of runs makes.
    fn detach(&self, component: &Arc<crate::engine::LoadedComponent>, config: &str, limits: &StepLimits, host: &HostContext) -> bool {
        use std::sync::atomic::Ordering;
        if DETACHED_STEPS.fetch_add(1, Ordering::SeqCst) >= MAX_DETACHED_STEPS {
            DETACHED_STEPS.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        let engine = Arc::clone(&self.engine);
        let component = Arc::clone(component);
        let (config, limits, host) = (config.to_owned(), *limits, host.clone());
        let spawned = std::thread::Builder::new().name("sluice-detached-step".to_owned()).spawn(move || {
            let step_id = host.step_id.clone();
            let run_id = host.run_id.clone();
            match engine.run_step(&component, config, String::new(), &limits, host) {
                Ok(_) => tracing::debug!(step.id = %step_id, run.id = %run_id, "Detached connector step finished"),
                Err(failure) => tracing::warn!(step.id = %step_id, run.id = %run_id, error = %failure, "Detached connector step failed"),
            }
            DETACHED_STEPS.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            DETACHED_STEPS.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Returns the binding of a connector step: its instance's settings,
    /// secrets and origin, plus the origins its manifest declares. A step
    /// that names no instance gets only the declared origins, so a built-in
    /// connector without an instance reaches no host.
    fn connector_binding(
        &self,
        step: &CompiledStep,
        component: &str,
        project: &str,
        manifest: Option<&ComponentManifest>,
    ) -> Result<ConnectorBinding, StepFailure> {
        let declared = manifest.map(|manifest| manifest.egress.clone()).unwrap_or_default();
        let Some(instance) = step
            .connector
            .as_deref()
            .filter(|_| step.kind == StepKind::Connector)
        else {
            return Ok(ConnectorBinding {
                allowed_origins: declared,
                ..ConnectorBinding::default()
            });
        };
        match &self.connectors {
            Some(resolver) => {
                let mut binding = resolver.resolve(project, instance, component)?;
                // The instance's origin stays first: the host adds its
                // headers and authentication to requests to that origin only.
                binding.allowed_origins.extend(declared);
                Ok(binding)
            }
            None => Err(StepFailure::new(
                ErrorKind::NotFound,
                format!(
                    "connector instance `{instance}` not found: this runtime has no connector instances, \
                     which `sluice serve` keeps per project"
                ),
            )),
        }
    }

    /// Returns the component a step names: one loaded on the host, or one
    /// the project published, with its manifest.
    fn component(
        &self,
        project: &str,
        reference: &str,
    ) -> Result<(Arc<crate::engine::LoadedComponent>, Option<Arc<PublishedComponent>>), String> {
        if let Some(component) = self.components.get(reference) {
            return Ok((Arc::clone(component), None));
        }
        let not_loaded = || format!("component `{reference}` is not loaded on this host");
        let Some(published) = &self.published else {
            return Err(not_loaded());
        };
        match published.get(project, reference) {
            Ok(Some(found)) => Ok((Arc::clone(&found.component), Some(found))),
            Ok(None) => Err(format!("{}, and the project has not published it", not_loaded())),
            Err(err) => Err(err.to_string()),
        }
    }

    /// Returns the run's wall-clock limit: the flow's own where set, never
    /// more than the host's.
    fn run_timeout(&self, flow: &CompiledFlow) -> Duration {
        flow.limits
            .timeout_ms
            .map_or(self.settings.run_timeout, Duration::from_millis)
            .min(self.settings.run_timeout)
    }

    /// Returns the step's limits: its own where set, otherwise the
    /// manifest's, otherwise the host's defaults, within the host's maximum.
    fn step_limits(&self, step: &CompiledStep, manifest: Option<&ComponentManifest>) -> StepLimits {
        let defaults = self.settings.default_limits;
        let max = self.settings.max_limits;
        let manifest = manifest.map(|manifest| &manifest.limits);
        let own = &step.limits;
        // The step's value, else the manifest's, else `default`; capped at `max`.
        let pick = |step: Option<u64>, manifest: Option<u64>, default: u64, max: u64| {
            step.or(manifest).unwrap_or(default).min(max)
        };
        let bytes = |value: usize| u64::try_from(value).unwrap_or(u64::MAX);
        let to_usize = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        let mib = |value: Option<u64>| value.map(|mib| mib.saturating_mul(1 << 20));
        let timeout_ms = pick(
            own.timeout_ms,
            manifest.and_then(|limits| limits.timeout_ms),
            u64::try_from(defaults.timeout.as_millis()).unwrap_or(u64::MAX),
            u64::try_from(max.timeout.as_millis()).unwrap_or(u64::MAX),
        );
        StepLimits {
            timeout: Duration::from_millis(timeout_ms),
            memory_bytes: to_usize(pick(
                mib(own.memory_mib),
                mib(manifest.and_then(|limits| limits.memory_mib)),
                bytes(defaults.memory_bytes),
                bytes(max.memory_bytes),
            )),
            output_bytes: to_usize(pick(
                own.output_bytes,
                manifest.and_then(|limits| limits.output_bytes),
                bytes(defaults.output_bytes),
                bytes(max.output_bytes),
            )),
            host_calls: u32::try_from(pick(
                own.host_calls,
                manifest.and_then(|limits| limits.host_calls),
                u64::from(defaults.host_calls),
                u64::from(max.host_calls),
            ))
            .unwrap_or(u32::MAX),
            host_call_bytes: to_usize(pick(
                own.host_call_bytes,
                manifest.and_then(|limits| limits.host_call_bytes),
                bytes(defaults.host_call_bytes),
                bytes(max.host_call_bytes),
            )),
            // Without fuel on the host, a requested budget is ignored, and
            // the step deadline still bounds the step.
            fuel: max.fuel.map(|max_fuel| {
                pick(
                    own.fuel,
                    manifest.and_then(|limits| limits.fuel),
                    defaults.fuel.unwrap_or(max_fuel),
                    max_fuel,
                )
            }),
        }
    }
}

fn max_attempts(step: &CompiledStep) -> u32 {
    step.retry
        .as_ref()
        .map_or(1, |policy| policy.attempts.max(1))
}

/// Error kinds retried when a policy lists none: the transient ones.
const DEFAULT_RETRY_KINDS: [ErrorKind; 2] = [ErrorKind::Timeout, ErrorKind::UpstreamFailure];

fn should_retry(step: &CompiledStep, failure: &StepFailure) -> bool {
    let Some(policy) = &step.retry else {
        return false;
    };
    if policy.on.is_empty() {
        DEFAULT_RETRY_KINDS.contains(&failure.kind)
    } else {
        policy.on.iter().any(|kind| kind == failure.kind.as_str())
    }
}

/// Exponential backoff: the policy's base doubled per attempt made, capped
/// at one minute.
fn retry_backoff(step: &CompiledStep, attempts_made: u32) -> Duration {
    let base = step.retry.as_ref().map_or(0, |policy| policy.backoff_ms);
    let factor = 1u64 << attempts_made.saturating_sub(1).min(16);
    Duration::from_millis(base.saturating_mul(factor).min(60_000))
}

/// Connector steps that may run detached at once; more run in line.
const MAX_DETACHED_STEPS: usize = 64;

/// Detached connector steps now running, across runtimes.
static DETACHED_STEPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Maximum wait that a `Retry-After` in a step error can set.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Returns the wait that an upstream failure requests with
/// `Retry-After: <seconds>` in its message, as `builtin:http` writes it for
/// a 429 or 503 response, capped at [`MAX_RETRY_AFTER`]; zero otherwise.
fn retry_after(failure: &StepFailure) -> Duration {
    if failure.kind != ErrorKind::UpstreamFailure {
        return Duration::ZERO;
    }
    let Some((_, rest)) = failure.message.split_once("Retry-After: ") else {
        return Duration::ZERO;
    };
    let seconds: String = rest.chars().take_while(char::is_ascii_digit).collect();
    seconds
        .parse::<u64>()
        .map_or(Duration::ZERO, |seconds| Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Describes a run that passed its deadline `when` ("while this step ran").
fn run_timeout_message(run_timeout: Duration, when: &str) -> String {
    format!(
        "the run passed its deadline of {} ms {when}; a flow may set `limits.timeoutMs`, up to \
         the server setting `run_timeout_ms`",
        run_timeout.as_millis()
    )
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The mutable state of one run.
struct RunState<'a> {
    flow: &'a CompiledFlow,
    run_id: String,
    context: Value,
    /// The context as JSON text, kept until the context changes.
    context_json: Option<String>,
    trace: Vec<StepTrace>,
    steps_taken: u32,
    keep_outputs: bool,
    /// Time by which the run must end.
    deadline: Instant,
}

impl<'a> RunState<'a> {
    fn new(flow: &'a CompiledFlow, request: &RunRequest, run_id: String, deadline: Instant) -> Self {
        let mut context = Map::new();
        context.insert("client".to_owned(), Value::Object(request.input.clone()));
        if let Some(event) = &request.triggering_event {
            context.insert("triggeringEvent".to_owned(), event.clone());
        }
        context.insert("actions".to_owned(), Value::Object(Map::new()));
        context.insert("connectors".to_owned(), Value::Object(Map::new()));
        Self {
            flow,
            run_id,
            context: Value::Object(context),
            context_json: None,
            trace: Vec::new(),
            steps_taken: 0,
            keep_outputs: request.keep_step_outputs,
            deadline,
        }
    }

    fn context_json(&mut self) -> String {
        self.context_json
            .get_or_insert_with(|| serde_json::to_string(&self.context).unwrap_or_default())
            .clone()
    }

    fn set(&mut self, namespace: &str, key: Option<&str>, value: Value) {
        self.context_json = None;
        let Value::Object(context) = &mut self.context else {
            return;
        };
        match key {
            None => {
                context.insert(namespace.to_owned(), value);
            }
            Some(key) => {
                let entry = context
                    .entry(namespace.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = entry {
                    map.insert(key.to_owned(), value);
                }
            }
        }
    }

    /// Stores a step's result in the context and returns the outcome to
    /// follow with the output kept for the trace.
    fn apply_output(&mut self, step: &CompiledStep, output: StepOutput) -> (String, Option<Value>) {
        match output {
            StepOutput::Action {
                value,
                user,
                tenant,
            } => {
                if let Some(user) = user {
                    self.set("user", None, serde_json::to_value(user).unwrap_or_default());
                }
                if let Some(tenant) = tenant {
                    self.set(
                        "tenant",
                        None,
                        serde_json::to_value(tenant).unwrap_or_default(),
                    );
                }
                let kept = self.keep_outputs.then(|| value.clone());
                self.set("actions", Some(&step.context_key), value);
                ("success".to_owned(), kept)
            }
            StepOutput::Connector(value) => {
                let kept = self.keep_outputs.then(|| value.clone());
                self.set("connectors", Some(&step.context_key), value);
                ("success".to_owned(), kept)
            }
            StepOutput::Condition(branch) => {
                let kept = self.keep_outputs.then(|| Value::String(branch.clone()));
                (branch, kept)
            }
        }
    }

    /// Stores a step's error at its context key, for `ignore` and `custom`
    /// error handling to read.
    fn store_error(&mut self, step: &CompiledStep, failure: &StepFailure) {
        let namespace = match step.kind {
            StepKind::Action => "actions",
            StepKind::Connector => "connectors",
            StepKind::Condition | StepKind::End => return,
        };
        let error =
            json!({ "error": { "kind": failure.kind.as_str(), "message": failure.message } });
        self.set(namespace, Some(&step.context_key), error);
    }

    fn report(
        self,
        status: RunStatus,
        output: Map<String, Value>,
        error: Option<RunFailure>,
        duration_us: u64,
    ) -> RunReport {
        RunReport {
            run_id: self.run_id,
            flow_id: self.flow.id.clone(),
            flow_version: self.flow.version,
            status,
            output,
            error,
            trace: self.trace,
            duration_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_from_upstream_failures() {
        let limited = StepFailure::new(ErrorKind::UpstreamFailure, "/x returned status 429 (Retry-After: 7): slow down");
        assert_eq!(retry_after(&limited), Duration::from_secs(7));
        let huge = StepFailure::new(ErrorKind::UpstreamFailure, "status 503 (Retry-After: 86400)");
        assert_eq!(retry_after(&huge), MAX_RETRY_AFTER);
        let date = StepFailure::new(ErrorKind::UpstreamFailure, "status 429 (Retry-After: Wed, 21 Oct 2026 07:28:00 GMT)");
        assert_eq!(retry_after(&date), Duration::ZERO, "an HTTP date is not a number of seconds");
        let other = StepFailure::new(ErrorKind::Timeout, "Retry-After: 7");
        assert_eq!(retry_after(&other), Duration::ZERO);
    }
}
