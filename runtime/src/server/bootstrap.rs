//! First start of a data folder, management keys, and flows deployed from
//! a folder at start.

use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use crate::api::AppState;
use crate::api::auth::hash_secret;
use crate::engine::Engine;
use crate::flow_file::{FlowFileError, load_flow_file};
use crate::registry::ComponentRegistry;
use crate::store::{Backend, ManagementKey, now_millis};

/// A management key as created: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Key id.
    pub id: String,
    /// The secret the caller sends after `<ProjectID>:`.
    pub secret: String,
}

/// Creates a management key for `project` and stores its hash.
///
/// # Errors
///
/// Fails when the project does not exist or the store fails.
pub fn create_key(backend: &dyn Backend, project: &str, name: &str, secret: Option<String>) -> anyhow::Result<NewKey> {
    let secret = secret.unwrap_or_else(|| {
        format!(
            "K{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    });
    let id = format!("key-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    backend.add_key(&ManagementKey {
        id: id.clone(),
        project: project.to_owned(),
        name: name.to_owned(),
        secret_hash: hash_secret(&secret),
        created: now_millis() / 1000,
    })?;
    Ok(NewKey { id, secret })
}

/// Returns the project the server runs for: on an empty store, creates one
/// with a management key and prints both once. `SLUICE_PROJECT_ID` and
/// `SLUICE_MANAGEMENT_KEY`, when set, choose them instead.
///
/// # Errors
///
/// Fails when the store fails.
pub fn ensure_project(backend: &dyn Backend) -> anyhow::Result<String> {
    if !backend.is_empty()? {
        let projects = backend.projects()?;
        return projects
            .into_iter()
            .next()
            .context("the store has keys but no project; the database is inconsistent");
    }
    let project = std::env::var("SLUICE_PROJECT_ID")
        .ok()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| format!("P{}", uuid::Uuid::new_v4().simple()));
    if project.contains(':') || project.chars().any(char::is_whitespace) {
        anyhow::bail!("SLUICE_PROJECT_ID `{project}` is invalid: it must not contain `:` or spaces");
    }
    let given_secret = std::env::var("SLUICE_MANAGEMENT_KEY").ok().filter(|key| !key.trim().is_empty());
    let secret_from_env = given_secret.is_some();
    backend.create_project(&project, "Default project")?;
    let key = create_key(backend, &project, "bootstrap", given_secret)?;
    tracing::info!(project.id = %project, key.id = %key.id, "Created the first project and management key");
    if secret_from_env {
        println!("Created project {project} with the management key from SLUICE_MANAGEMENT_KEY.");
    } else {
        println!("Created project {project} and a management key. The key is shown only now; store it:");
        println!("  SLUICE_PROJECT_ID={project}");
        println!("  SLUICE_MANAGEMENT_KEY={}", key.secret);
        println!("Call the API with: Authorization: Bearer {project}:<management key>");
    }
    Ok(project)
}

/// Loads every `*.json` flow file in `folder`, with the `file:` components
/// they reference, and returns their documents.
///
/// # Errors
///
/// Fails on the first unreadable or invalid file, listing its problems.
pub fn read_flow_folder(engine: &Engine, registry: &mut ComponentRegistry, folder: &Path) -> anyhow::Result<Vec<Value>> {
    let mut paths: Vec<_> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read the flows folder {}", folder.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut documents = Vec::new();
    for path in paths {
        match load_flow_file(engine, registry, &path) {
            Ok(flow) => documents.push(flow.document),
            Err(FlowFileError::Unreadable(message)) => anyhow::bail!(message),
            Err(FlowFileError::Invalid { problems }) => anyhow::bail!(
                "flow file {} is invalid:\n{}",
                path.display(),
                sluice_flow::format_problems(&problems)
            ),
        }
    }
    Ok(documents)
}

/// Deploys a flow document unless its active version is the same document,
/// so restarts do not pile up identical versions.
///
/// # Errors
///
/// Fails when the document is invalid or the store fails.
pub async fn deploy_if_changed(state: &AppState, project: &str, document: Value) -> anyhow::Result<()> {
    let flow_id = document.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let backend = state.backend();
    let (project_owned, id) = (project.to_owned(), flow_id.clone());
    let active = tokio::task::spawn_blocking(move || backend.active_flow(&project_owned, &id)).await??;
    if active.is_some_and(|version| version.document == document) {
        tracing::info!(flow.id = %flow_id, "Flow file unchanged since its last deploy");
        return Ok(());
    }
    state
        .deploy(project, document)
        .await
        .map_err(|err| anyhow::anyhow!("cannot deploy flow `{flow_id}`: {}", err.message))?;
    Ok(())
}
