//! Storage of what the server keeps besides identity data: projects and
//! their management keys, deployed flow versions, and runs with their traces.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{IdentityStore, StoreError};

/// A management key as stored: never the secret itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagementKey {
    /// Key id, shown to operators and recorded as the actor of changes.
    pub id: String,
    /// Project the key belongs to.
    pub project: String,
    /// Operator's label for the key.
    pub name: String,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_hash: String,
    /// Creation time in seconds since the Unix epoch.
    pub created: u64,
}

/// Projects and their management keys.
pub trait ProjectStore: Send + Sync {
    /// Returns whether no project exists yet (a new data directory).
    fn is_empty(&self) -> Result<bool, StoreError>;
    /// Creates a project. Fails with [`StoreError::Conflict`] when the id is taken.
    fn create_project(&self, project: &str, name: &str) -> Result<(), StoreError>;
    /// Returns the ids of every project, oldest first.
    fn projects(&self) -> Result<Vec<String>, StoreError>;
    /// Returns whether the project exists.
    fn project_exists(&self, project: &str) -> Result<bool, StoreError>;
    /// Stores a management key. Fails with [`StoreError::NotFound`] when the
    /// project does not exist.
    fn add_key(&self, key: &ManagementKey) -> Result<(), StoreError>;
    /// Returns every key of the project.
    fn keys(&self, project: &str) -> Result<Vec<ManagementKey>, StoreError>;
}

/// One deployed version of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowVersion {
    /// Flow id.
    pub flow_id: String,
    /// Deployment number assigned by the store: 1 for the first deploy, then
    /// one more for each deploy of the same flow id.
    pub version: u32,
    /// The flow document as deployed.
    pub document: Value,
    /// Whether this is the version that runs.
    pub active: bool,
    /// Deployment time in seconds since the Unix epoch.
    pub created: u64,
}

/// Deployed flows and their versions. Deploying never removes an older
/// version, so a rollback can activate it again.
pub trait FlowStore: Send + Sync {
    /// Stores `document` as the next version of `flow_id`, makes it the
    /// active one and returns it.
    fn deploy_flow(
        &self,
        project: &str,
        flow_id: &str,
        document: &Value,
    ) -> Result<FlowVersion, StoreError>;
    /// Returns the active version of a flow.
    fn active_flow(&self, project: &str, flow_id: &str) -> Result<Option<FlowVersion>, StoreError>;
    /// Returns the active version of every flow of the project, by flow id.
    fn active_flows(&self, project: &str) -> Result<Vec<FlowVersion>, StoreError>;
    /// Returns every version of a flow, oldest first.
    fn flow_versions(&self, project: &str, flow_id: &str) -> Result<Vec<FlowVersion>, StoreError>;
    /// Makes an existing version the active one. Fails with
    /// [`StoreError::NotFound`] when the flow or version does not exist.
    fn activate_flow_version(
        &self,
        project: &str,
        flow_id: &str,
        version: u32,
    ) -> Result<FlowVersion, StoreError>;
    /// Deletes a flow with all its versions; returns whether it existed.
    fn delete_flow(&self, project: &str, flow_id: &str) -> Result<bool, StoreError>;
}

/// A run of a flow, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Run id.
    pub run_id: String,
    /// Project of the run.
    pub project: String,
    /// Flow id.
    pub flow_id: String,
    /// Flow version that ran.
    pub flow_version: u32,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Run inputs.
    pub input: Value,
    /// End step outputs; `null` until the run completes.
    pub output: Value,
    /// The failure, `null` unless the run failed.
    pub error: Value,
    /// Executed steps as the executor reports them.
    pub trace: Value,
    /// Time the run was created, in milliseconds since the Unix epoch.
    pub created: u64,
    /// Run time in microseconds; 0 until the run ends.
    pub duration_us: u64,
}

/// Runs and their traces.
pub trait RunStore: Send + Sync {
    /// Stores a new run. Fails with [`StoreError::Conflict`] when the run id exists.
    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// Stores several new runs, in one transaction where the store has them.
    ///
    /// The result has one entry per run, in order: a run whose id exists
    /// fails alone with [`StoreError::Conflict`] and the others are stored.
    ///
    /// # Errors
    ///
    /// Fails when the transaction fails; then none of the runs is stored.
    fn insert_runs(&self, runs: &[RunRecord]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        Ok(runs.iter().map(|run| self.insert_run(run)).collect())
    }
    /// Replaces a stored run (status, output, error, trace, duration).
    fn update_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// Loads a run of the project.
    fn load_run(&self, project: &str, run_id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Returns the newest runs of the project, newest first, optionally of one flow.
    fn list_runs(
        &self,
        project: &str,
        flow_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;
}

/// Everything the server stores, behind one object.
pub trait Backend:
    IdentityStore + ProjectStore + FlowStore + RunStore + ConnectorStore + ComponentStore + super::OAuthStore
{
}

impl<T: IdentityStore + ProjectStore + FlowStore + RunStore + ConnectorStore + ComponentStore + super::OAuthStore> Backend
    for T
{
}

/// A connector instance as stored: its settings, and its secrets sealed by
/// [`SecretKey`](crate::secrets::SecretKey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnector {
    /// Settings and the names of the secrets.
    pub instance: crate::connectors::ConnectorInstance,
    /// The secrets as a sealed JSON object; empty when there are none.
    pub sealed_secrets: Vec<u8>,
}

/// Connector instances of each project.
pub trait ConnectorStore: Send + Sync {
    /// Stores a new instance. Fails with [`StoreError::Conflict`] when the
    /// project has an instance of that name.
    fn create_connector(
        &self,
        project: &str,
        connector: &StoredConnector,
    ) -> Result<(), StoreError>;
    /// Replaces an instance. Fails with [`StoreError::NotFound`] when it does not exist.
    fn replace_connector(
        &self,
        project: &str,
        connector: &StoredConnector,
    ) -> Result<(), StoreError>;
    /// Loads an instance by name.
    fn load_connector(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<StoredConnector>, StoreError>;
    /// Returns every instance of the project, by name.
    fn list_connectors(&self, project: &str) -> Result<Vec<StoredConnector>, StoreError>;
    /// Deletes an instance; returns whether it existed.
    fn delete_connector(&self, project: &str, name: &str) -> Result<bool, StoreError>;
}

/// Published components of each project, by id and version.
pub trait ComponentStore: Send + Sync {
    /// Stores a new component version. Fails with [`StoreError::Conflict`]
    /// when the project has that id and version already, because versions
    /// are immutable.
    fn insert_component(&self, project: &str, component: &crate::publish::StoredComponent) -> Result<(), StoreError>;
    /// Loads one version.
    fn load_component(
        &self,
        project: &str,
        id: &str,
        version: &str,
    ) -> Result<Option<crate::publish::StoredComponent>, StoreError>;
    /// Returns the manifests of every published version, by id and version.
    fn list_components(&self, project: &str) -> Result<Vec<crate::publish::ComponentManifest>, StoreError>;
    /// Deletes one version; returns whether it existed.
    fn delete_component(&self, project: &str, id: &str, version: &str) -> Result<bool, StoreError>;
}
