//! Published components: Sluice's own calls under `/v1/mgmt/component`.
//!
//! `publish` takes the manifest and the Wasm bytes (base64) in one JSON
//! body, checks the component against its declared world by compiling it,
//! and stores the version. Versions are immutable. A version that a stored
//! flow version names cannot be deleted.

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::error::ApiError;
use super::json::{ApiJson, BodyLimit};
use super::{AppState, blocking};
use crate::engine::world_name;
use crate::publish::{ComponentManifest, StoredComponent};
use crate::store::now_millis;

/// Largest publish request body: the base64 of a component of 24 MiB.
pub const MAX_PUBLISH_BODY_BYTES: usize = 32 << 20;

pub(super) fn routes() -> Router<AppState> {
    // Only the publish call takes bodies larger than the API's limit. These
    // layers run after the router-wide ones and replace their limit.
    let publish_route = Router::new()
        .route("/v1/mgmt/component/publish", post(publish))
        .layer(DefaultBodyLimit::max(MAX_PUBLISH_BODY_BYTES))
        .layer(Extension(BodyLimit(MAX_PUBLISH_BODY_BYTES)));
    Router::new()
        .route("/v1/mgmt/component/list", post(list))
        .route("/v1/mgmt/component/delete", post(delete))
        .merge(publish_route)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    manifest: Option<Value>,
    /// The component's Wasm bytes in standard base64.
    wasm: Option<String>,
}

async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PublishBody>,
) -> Result<Json<Value>, ApiError> {
    let published = state.published()?;
    let manifest = body.manifest.ok_or_else(|| ApiError::missing("manifest"))?;
    let manifest: ComponentManifest = serde_json::from_value(manifest)
        .map_err(|err| ApiError::invalid(format!("invalid `manifest`: {err}")))?;
    let problems = manifest.problems();
    if !problems.is_empty() {
        return Err(ApiError::invalid(format!(
            "invalid `manifest`: {}",
            problems.join("; ")
        )));
    }
    let wasm = body.wasm.ok_or_else(|| ApiError::missing("wasm"))?;
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(wasm.trim())
        .map_err(|err| {
            ApiError::invalid(format!(
                "invalid `wasm`: not standard base64 ({err}); encode the .wasm file"
            ))
        })?;
    let reference = manifest.reference();
    let declared = manifest.parsed_world().map_err(ApiError::invalid)?;
    let project = caller.project.clone();
    let stored = blocking(move || {
        // Compiling checks the bytes and the world; the compiled code lands
        // in the engine's cache, so the first run does not compile again.
        let loaded = published.engine().load(&reference, &wasm).map_err(|err| {
            ApiError::invalid(format!("invalid `wasm`: {err}"))
        })?;
        if loaded.world() != declared {
            return Err(ApiError::invalid(format!(
                "the component implements the {} world, but the manifest declares `world = \"{}\"`; fix the \
                 manifest or build the component for the declared world",
                world_name(loaded.world()),
                declared
            )));
        }
        let stored = StoredComponent {
            digest: format!("{:x}", Sha256::digest(&wasm)),
            wasm,
            manifest,
            created: now_millis(),
        };
        published.store().insert_component(&project, &stored)?;
        Ok(stored)
    })
    .await?;
    tracing::info!(project.id = %caller.project, component = %stored.manifest.reference(), digest = %stored.digest, "Published component");
    Ok(Json(json!({
        "reference": stored.manifest.reference(),
        "digest": stored.digest,
        "manifest": stored.manifest,
    })))
}

/// Lists the project's published components. The body has no fields but
/// must still be empty or a JSON object.
async fn list(State(state): State<AppState>, caller: Caller, _: ApiJson<IgnoredAny>) -> Result<Json<Value>, ApiError> {
    let published = state.published()?;
    let project = caller.project.clone();
    let manifests = blocking(move || Ok(published.store().list_components(&project)?)).await?;
    let listed: Vec<Value> = manifests
        .iter()
        .map(|manifest| json!({ "reference": manifest.reference(), "manifest": manifest }))
        .collect();
    Ok(Json(json!({ "components": listed })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    reference: Option<String>,
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Json<Value>, ApiError> {
    let published = state.published()?;
    let reference = body
        .reference
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::missing("reference"))?;
    let Some((id, version)) = reference.split_once('@') else {
        return Err(ApiError::invalid(format!(
            "`reference` {reference:?} must be publisher/name@version"
        )));
    };
    let (id, version) = (id.to_owned(), version.to_owned());
    let backend = state.backend();
    let project = caller.project.clone();
    let target = reference.clone();
    let store = std::sync::Arc::clone(published.store());
    blocking(move || {
        let mut users = Vec::new();
        for flow in backend.active_flows(&project)? {
            for version in backend.flow_versions(&project, &flow.flow_id)? {
                if uses_component(&version.document, &target) {
                    users.push(format!("{} version {}", flow.flow_id, version.version));
                }
            }
        }
        if !users.is_empty() {
            return Err(ApiError::conflict(format!(
                "component `{target}` is used by {}; delete those flows or deploy versions without it first",
                users.join(", ")
            )));
        }
        if !store.delete_component(&project, &id, &version)? {
            return Err(ApiError::not_found("component", &target));
        }
        Ok(())
    })
    .await?;
    published.forget(&caller.project, &reference);
    tracing::info!(project.id = %caller.project, component = %reference, "Deleted published component");
    Ok(Json(json!({})))
}

/// Returns whether a flow document has a step that runs `reference`.
fn uses_component(document: &Value, reference: &str) -> bool {
    document["steps"]
        .as_array()
        .is_some_and(|steps| steps.iter().any(|step| step["component"] == reference))
}
