//! Flow calls: run (synchronous and asynchronous), list, delete, import and
//! export, and Sluice's own versions, rollback and run history.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};
use sluice_flow::CompiledFlow;
use sluice_model::body::flows::{
    DeleteBody, ExecutionBody, FlowVersionBody, ImportBody, ListRunsBody, ReplayBody, RunBody,
};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::slots::RunSlot;
use super::{AppState, blocking, run_blocking};
use crate::executor::{RunReport, RunRequest, RunStatus};
use crate::store::{FlowVersion, RunRecord, now_millis};

/// An active flow version, compiled and ready to run.
#[derive(Debug)]
pub struct DeployedFlow {
    /// The compiled document.
    pub flow: CompiledFlow,
    /// Deployment version.
    pub version: u32,
}

/// The audit event trigger of an active flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTrigger {
    /// Flow id.
    pub flow_id: String,
    /// Active version.
    pub version: u32,
    /// Audit event actions that start the flow.
    pub audit_events: Vec<String>,
    /// Whether events caused by the flow's own runs start it again.
    pub own_events: bool,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/flow/run", post(run_flow))
        .route("/v1/mgmt/flow/async/run", post(run_flow_async))
        .route("/v1/mgmt/flow/async/result", post(async_result))
        .route("/v1/mgmt/flow/list", post(list_flows))
        .route("/v1/mgmt/flow/delete", post(delete_flows))
        .route("/v1/mgmt/flow/import", post(import_flow))
        .route("/v1/mgmt/flow/export", post(export_flow))
        .route("/v1/mgmt/flow/versions", post(flow_versions))
        .route("/v1/mgmt/flow/rollback", post(rollback_flow))
        .route("/v1/mgmt/flow/runs", post(list_runs))
        .route("/v1/mgmt/flow/runs/{run_id}", get(get_run))
        .route("/v1/mgmt/flow/runs/dead", post(dead_runs))
        .route("/v1/mgmt/flow/runs/replay", post(replay_runs))
}


impl AppState {
    /// Returns the compiled active version of a flow, compiling it on first use.
    pub(crate) async fn deployed_flow(&self, project: &str, flow_id: &str) -> Result<Arc<DeployedFlow>, ApiError> {
        let key = (project.to_owned(), flow_id.to_owned());
        if let Some(flow) = self.read_flows().get(&key) {
            return Ok(Arc::clone(flow));
        }
        let backend = self.backend();
        let (project_owned, flow_owned) = key.clone();
        let active = blocking(move || Ok(backend.active_flow(&project_owned, &flow_owned)?)).await?;
        let active = active.ok_or_else(|| ApiError::not_found("flow", flow_id))?;
        let deployed = Arc::new(self.compile(project, &active)?);
        self.write_flows().insert(key, Arc::clone(&deployed));
        Ok(deployed)
    }

    fn compile(&self, project: &str, version: &FlowVersion) -> Result<DeployedFlow, ApiError> {
        let text = version.document.to_string();
        let catalog = self.runtime().catalog(project)?;
        let flow = sluice_flow::validate(&text, catalog.as_ref()).map_err(|problems| {
            ApiError::internal(format!(
                "stored flow `{}` version {} no longer validates: {}",
                version.flow_id,
                version.version,
                sluice_flow::format_problems(&problems)
            ))
        })?;
        Ok(DeployedFlow {
            flow,
            version: version.version,
        })
    }

    fn read_flows(&self) -> std::sync::RwLockReadGuard<'_, std::collections::HashMap<(String, String), Arc<DeployedFlow>>> {
        self.0.flows.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_flows(&self) -> std::sync::RwLockWriteGuard<'_, std::collections::HashMap<(String, String), Arc<DeployedFlow>>> {
        self.0.flows.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn forget_flow(&self, project: &str, flow_id: &str) {
        self.0.flows_generation.fetch_add(1, Ordering::SeqCst);
        self.write_flows().remove(&(project.to_owned(), flow_id.to_owned()));
        self.0
            .flow_triggers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(project);
    }

    /// Returns the audit event triggers of the project's active flows. A
    /// stored flow that no longer validates is left out and logged.
    ///
    /// # Errors
    ///
    /// Fails when the store cannot list the flows.
    pub async fn flow_triggers(&self, project: &str) -> Result<Arc<Vec<FlowTrigger>>, ApiError> {
        let cached = self
            .0
            .flow_triggers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(project)
            .cloned();
        if let Some(triggers) = cached {
            return Ok(triggers);
        }
        let generation = self.0.flows_generation.load(Ordering::SeqCst);
        let backend = self.backend();
        let project_owned = project.to_owned();
        let versions = blocking(move || Ok(backend.active_flows(&project_owned)?)).await?;
        let mut triggers = Vec::new();
        for version in &versions {
            match self.compile(project, version) {
                Ok(deployed) if !deployed.flow.trigger.audit_events.is_empty() => triggers.push(FlowTrigger {
                    flow_id: version.flow_id.clone(),
                    version: version.version,
                    audit_events: deployed.flow.trigger.audit_events.clone(),
                    own_events: deployed.flow.trigger.own_events,
                }),
                Ok(_) => {}
                Err(err) => tracing::warn!(project.id = %project, flow.id = %version.flow_id, error = %err.message, "Flow left out of audit event triggers"),
            }
        }
        let triggers = Arc::new(triggers);
        // A deploy that happened while the list was built has made it stale.
        // The check runs under the lock that `forget_flow` takes after it
        // counts a deploy, so a stale list is either never cached or removed.
        let mut cache = self.0.flow_triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.0.flows_generation.load(Ordering::SeqCst) == generation {
            cache.insert(project.to_owned(), Arc::clone(&triggers));
        }
        Ok(triggers)
    }

    /// Validates a flow document and deploys it as the flow's next version.
    ///
    /// # Errors
    ///
    /// 400 listing every problem when the document is invalid.
    pub async fn deploy(&self, project: &str, document: Value) -> Result<FlowVersion, ApiError> {
        let text = document.to_string();
        let compiled = {
            let catalog = self.runtime().catalog(project)?;
            sluice_flow::validate(&text, catalog.as_ref()).map_err(|problems| {
                ApiError::invalid(format!("invalid flow document:\n{}", sluice_flow::format_problems(&problems)))
            })?
        };
        let backend = self.backend();
        let project_owned = project.to_owned();
        let flow_id = compiled.id.clone();
        let deployed = blocking(move || Ok(backend.deploy_flow(&project_owned, &flow_id, &document)?)).await?;
        self.forget_flow(project, &compiled.id);
        tracing::info!(project.id = %project, flow.id = %compiled.id, flow.version = deployed.version, "Deployed flow");
        Ok(deployed)
    }

    /// Takes a slot of the project and of the server for one run, or fails with 429.
    fn run_slot(&self, project: &str) -> Result<RunSlot, ApiError> {
        self.0.run_slots.try_take(project)
    }

    /// Runs a flow to its end and stores the run with its trace.
    ///
    /// The run executes on a blocking thread and queues its record there, so a
    /// client that disconnects does not stop the run or lose its record. The
    /// slot goes with the record and stays taken until the record is stored.
    pub(super) async fn execute(&self, project: &str, deployed: Arc<DeployedFlow>, input: Map<String, Value>, run_id: String) -> Result<RunReport, ApiError> {
        let slot = self.run_slot(project)?;
        let state = self.clone();
        let flow_id = deployed.flow.id.clone();
        let project_owned = project.to_owned();
        let (report, stored) = run_blocking(self, project, &flow_id, move || {
            let project = project_owned;
            let created = now_millis();
            let report = state.runtime().run(
                &deployed.flow,
                RunRequest {
                    project: project.clone(),
                    input: input.clone(),
                    triggering_event: None,
                    run_id: Some(run_id),
                    keep_step_outputs: true,
                },
            );
            state.metrics().record_run(&report);
            let record = run_record(&project, deployed.version, &report, Value::Object(input), created);
            let stored = state.0.run_writer.submit(record, slot);
            Ok((report, stored))
        })
        .await?;
        // The response waits for the record, so the client can load the run
        // by its id as soon as it receives the response.
        if let Err(err) = stored.wait().await {
            tracing::error!(run.id = %report.run_id, error = %err, "Failed to store a finished run");
        }
        Ok(report)
    }
}

/// Builds the stored record of a finished run.
pub fn run_record(project: &str, flow_version: u32, report: &RunReport, input: Value, created: u64) -> RunRecord {
    RunRecord {
        run_id: report.run_id.clone(),
        project: project.to_owned(),
        flow_id: report.flow_id.clone(),
        flow_version,
        status: match report.status {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
        .to_owned(),
        input,
        output: Value::Object(report.output.clone()),
        error: serde_json::to_value(&report.error).unwrap_or(Value::Null),
        trace: serde_json::to_value(&report.trace).unwrap_or(Value::Null),
        created,
        duration_us: report.duration_us,
    }
}

/// Returns a new run id: a UUID of version 7, which starts with the time,
/// so new runs go to the end of the store's index of run ids.
pub(super) fn new_run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Builds the error response of a failed run, naming the step and the run id.
fn run_failed(report: &RunReport) -> ApiError {
    let reason = report
        .error
        .as_ref()
        .map_or_else(|| "the run failed".to_owned(), ToString::to_string);
    ApiError::run_failed(format!("{reason} (run `{}`)", report.run_id))
}

async fn run_flow(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<RunBody>) -> Result<Json<Value>, ApiError> {
    let (flow_id, input, _tenant) = body.into_parts()?;
    let deployed = state.deployed_flow(&caller.project, &flow_id).await?;
    if !deployed.flow.trigger.api {
        return Err(ApiError::forbidden(format!(
            "flow `{flow_id}` does not allow runs through the API: set `trigger.api` to true"
        )));
    }
    let report = state.execute(&caller.project, deployed, input, new_run_id()).await?;
    if report.status == RunStatus::Failed {
        return Err(run_failed(&report));
    }
    Ok(Json(json!({ "output": report.output, "executionId": report.run_id })))
}

async fn run_flow_async(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<RunBody>) -> Result<Json<Value>, ApiError> {
    let (flow_id, input, _tenant) = body.into_parts()?;
    let deployed = state.deployed_flow(&caller.project, &flow_id).await?;
    if !deployed.flow.trigger.api {
        return Err(ApiError::forbidden(format!(
            "flow `{flow_id}` does not allow runs through the API: set `trigger.api` to true"
        )));
    }
    let slot = state.run_slot(&caller.project)?;
    let run_id = new_run_id();
    let queued = RunRecord {
        run_id: run_id.clone(),
        project: caller.project.clone(),
        flow_id: flow_id.clone(),
        flow_version: deployed.version,
        status: "running".to_owned(),
        input: Value::Object(input.clone()),
        output: Value::Null,
        error: Value::Null,
        trace: Value::Array(Vec::new()),
        created: now_millis(),
        duration_us: 0,
    };
    // One tracked task stores the running record, runs the flow and stores
    // its end. A client that disconnects while the record is stored drops
    // only the wait below, so no record stays `running` without a run.
    let (stored_tx, stored_rx) = tokio::sync::oneshot::channel();
    let project = caller.project.clone();
    let id = run_id.clone();
    let tracker = state.background_runs().clone();
    tracker.spawn(async move {
        let state_for_run = state.clone();
        let project_for_run = project.clone();
        let result = run_blocking(&state, &project, &flow_id, move || {
            let project = project_for_run;
            let _slot = slot;
            let stored = state_for_run.backend().insert_run(&queued);
            let failed = stored.is_err();
            let _ = stored_tx.send(stored);
            if failed {
                return Ok(());
            }
            let report = state_for_run.runtime().run(
                &deployed.flow,
                RunRequest {
                    project: project.clone(),
                    input: input.clone(),
                    triggering_event: None,
                    run_id: Some(id),
                    keep_step_outputs: true,
                },
            );
            state_for_run.metrics().record_run(&report);
            let record = run_record(&project, deployed.version, &report, Value::Object(input), queued.created);
            Ok(state_for_run.backend().update_run(&record)?)
        })
        .await;
        if let Err(err) = result {
            tracing::error!(error = %err.message, "Failed to finish an asynchronous run");
        }
    });
    stored_rx
        .await
        .map_err(|_| ApiError::internal("the task that starts an asynchronous run ended before it stored the run"))??;
    Ok(Json(json!({ "executionId": run_id })))
}

async fn async_result(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<ExecutionBody>) -> Result<Json<Value>, ApiError> {
    let run_id = body.execution_id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::missing("executionId"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let id = run_id.clone();
    let run = blocking(move || Ok(backend.load_run(&project, &id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("execution", &run_id))?;
    Ok(Json(json!({
        "executionId": run.run_id,
        "status": run.status,
        "output": run.output,
        "error": run.error,
    })))
}

fn flow_summary(version: &FlowVersion) -> Value {
    let document = &version.document;
    json!({
        "id": version.flow_id,
        "name": document.get("name").cloned().unwrap_or_else(|| Value::from(version.flow_id.clone())),
        "description": document.get("description").cloned().unwrap_or_else(|| Value::from("")),
        "version": version.version,
        "trigger": document.get("trigger").cloned().unwrap_or(Value::Null),
        "disabled": false,
    })
}

/// Lists the project's flows. The body has no fields but must still be
/// empty or a JSON object.
async fn list_flows(State(state): State<AppState>, caller: Caller, _: ApiJson<IgnoredAny>) -> Result<Json<Value>, ApiError> {
    let backend = state.backend();
    let project = caller.project.clone();
    let flows = blocking(move || Ok(backend.active_flows(&project)?)).await?;
    let summaries: Vec<Value> = flows.iter().map(flow_summary).collect();
    Ok(Json(json!({ "total": summaries.len(), "flows": summaries })))
}

async fn delete_flows(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<DeleteBody>) -> Result<Json<Value>, ApiError> {
    if body.ids.is_empty() {
        return Err(ApiError::missing("ids"));
    }
    let backend = state.backend();
    let project = caller.project.clone();
    let ids = body.ids.clone();
    blocking(move || {
        for id in &ids {
            backend.delete_flow(&project, id)?;
        }
        Ok(())
    })
    .await?;
    for id in &body.ids {
        state.forget_flow(&caller.project, id);
    }
    Ok(Json(json!({})))
}

async fn import_flow(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<ImportBody>) -> Result<Json<Value>, ApiError> {
    let document = body.flow.ok_or_else(|| ApiError::missing("flow"))?;
    if let Some(flow_id) = &body.flow_id {
        let document_id = document.get("id").and_then(Value::as_str).unwrap_or_default();
        if flow_id != document_id {
            return Err(ApiError::invalid(format!(
                "flowId `{flow_id}` does not match the document's id `{document_id}`; make them equal"
            )));
        }
    }
    let deployed = state.deploy(&caller.project, document).await?;
    Ok(Json(json!({ "flowId": deployed.flow_id, "version": deployed.version })))
}

async fn export_flow(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<FlowVersionBody>) -> Result<Json<Value>, ApiError> {
    let flow_id = body.flow_id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::missing("flowId"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let id = flow_id.clone();
    let versions = blocking(move || Ok(backend.flow_versions(&project, &id)?)).await?;
    let chosen = match body.version {
        Some(number) => versions.into_iter().find(|v| v.version == number),
        None => versions.into_iter().find(|v| v.active),
    }
    .ok_or_else(|| ApiError::not_found("flow", &flow_id))?;
    // Descope's export also returns `screens`; management flows have none.
    Ok(Json(json!({ "flowId": chosen.flow_id, "version": chosen.version, "flow": chosen.document, "screens": [] })))
}

async fn flow_versions(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<FlowVersionBody>) -> Result<Json<Value>, ApiError> {
    let flow_id = body.flow_id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::missing("flowId"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let id = flow_id.clone();
    let versions = blocking(move || Ok(backend.flow_versions(&project, &id)?)).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found("flow", &flow_id));
    }
    let listed: Vec<Value> = versions
        .iter()
        .map(|v| json!({ "version": v.version, "active": v.active, "created": v.created }))
        .collect();
    Ok(Json(json!({ "flowId": flow_id, "versions": listed })))
}

async fn rollback_flow(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<FlowVersionBody>) -> Result<Json<Value>, ApiError> {
    let flow_id = body.flow_id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::missing("flowId"))?;
    let version = body.version.ok_or_else(|| ApiError::missing("version"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let id = flow_id.clone();
    let activated = blocking(move || Ok(backend.activate_flow_version(&project, &id, version)?)).await?;
    state.forget_flow(&caller.project, &flow_id);
    tracing::info!(project.id = %caller.project, flow.id = %flow_id, flow.version = version, "Rolled back flow");
    Ok(Json(json!({ "flowId": activated.flow_id, "version": activated.version })))
}

/// Most runs one list call returns.
const MAX_RUNS_LISTED: u32 = 1_000;

async fn list_runs(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<ListRunsBody>) -> Result<Json<Value>, ApiError> {
    let limit = body.limit.unwrap_or(100).clamp(1, MAX_RUNS_LISTED);
    let backend = state.backend();
    let project = caller.project.clone();
    let flow_id = body.flow_id.clone();
    let runs = blocking(move || Ok(backend.list_runs(&project, flow_id.as_deref(), limit)?)).await?;
    let listed: Vec<Value> = runs
        .iter()
        .map(|run| {
            json!({
                "runId": run.run_id, "flowId": run.flow_id, "flowVersion": run.flow_version,
                "status": run.status, "created": run.created, "durationUs": run.duration_us,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": listed })))
}

async fn get_run(State(state): State<AppState>, caller: Caller, Path(run_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let backend = state.backend();
    let project = caller.project.clone();
    let id = run_id.clone();
    let run = blocking(move || Ok(backend.load_run(&project, &id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("run", &run_id))?;
    Ok(Json(json!({ "run": run })))
}

impl AppState {
    fn require_trigger_queue(&self) -> Result<Arc<dyn crate::store::TriggerQueue>, ApiError> {
        self.trigger_queue()
            .ok_or_else(|| ApiError::internal("this server was set up without a queue of runs started by audit events"))
    }
}

async fn dead_runs(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<ListRunsBody>) -> Result<Json<Value>, ApiError> {
    let queue = state.require_trigger_queue()?;
    let limit = body.limit.unwrap_or(100).clamp(1, MAX_RUNS_LISTED);
    let project = caller.project.clone();
    let flow_id = body.flow_id.clone();
    let runs = blocking(move || Ok(queue.dead_runs(&project, flow_id.as_deref(), limit)?)).await?;
    let listed: Vec<Value> = runs
        .iter()
        .map(|run| {
            json!({
                "runId": run.run_id, "flowId": run.flow_id, "eventId": run.event.id,
                "action": run.event.action, "depth": run.depth, "attempts": run.attempts,
                "reason": run.last_error, "created": run.created,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": listed })))
}

async fn replay_runs(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<ReplayBody>) -> Result<Json<Value>, ApiError> {
    let queue = state.require_trigger_queue()?;
    let run_id = body.run_id.filter(|id| !id.is_empty());
    if run_id.is_some() == body.all {
        return Err(ApiError::invalid(
            "send exactly one of `runId`, to replay one dead run, and `\"all\": true`, to replay every dead run",
        ));
    }
    let project = caller.project.clone();
    let target = run_id.clone();
    let replayed = blocking(move || Ok(queue.replay_dead(&project, target.as_deref(), now_millis())?)).await?;
    if let Some(id) = &run_id
        && replayed == 0
    {
        return Err(ApiError::not_found("dead run", id));
    }
    tracing::info!(project.id = %caller.project, runs = replayed, "Replaying dead runs");
    Ok(Json(json!({ "replayed": replayed })))
}
