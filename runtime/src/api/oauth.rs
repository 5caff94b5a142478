//! The public OAuth endpoints of MCP servers: RFC 8414 metadata, Dynamic
//! Client Registration (RFC 7591) and client configuration (RFC 7592).
//!
//! These calls take no management key. Errors use the OAuth body
//! `{"error", "error_description"}` instead of Descope's.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Extension, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::auth::hash_secret;
use super::error::ApiError;
use super::json::{BodyReadTimeout, too_deep_message};
use super::flows::new_run_id;
use super::{AppState, blocking};
use crate::oauth::clients::{
    CLIENT_DELETED, CLIENT_REGISTERED, CLIENT_REGISTRATION_REJECTED, CLIENT_UPDATED, client_event,
};
use crate::oauth::decision::{Decision, decision_from_run, registration_input};
use crate::oauth::metadata::{authorization_server_metadata, issuer};
use crate::oauth::registration::MAX_REGISTRATION_BODY_BYTES;
use crate::oauth::{
    ClientMetadata, McpServer, MetadataError, RegisteredClient, Verification,
    validate_client_metadata,
};
use crate::store::{Actor, StoreError, now_millis};

// One route per line: `runtime/tests/openapi.rs` reads this form.
#[rustfmt::skip]
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server/oauth/{project}/{server}", get(server_metadata))
        .route("/oauth/{project}/{server}/register", post(register_client))
        .route("/oauth/{project}/{server}/register/{client_id}", get(read_client).put(update_client).delete(delete_client))
}

/// An OAuth error response: RFC 7591 §3.2.2 and RFC 6750 §3.1 bodies.
#[derive(Debug)]
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn invalid_metadata(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            description,
        )
    }

    /// 401 for a missing or wrong registration access token, also returned
    /// for a client that does not exist so the response does not reveal it.
    fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "missing or invalid registration access token: send `Authorization: Bearer <registration_access_token>`",
        )
    }

    /// 429 with `Retry-After`.
    pub(super) fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "too many registration requests from this address: retry after {retry_after_secs} seconds"
            ),
        );
        error.retry_after = Some(retry_after_secs);
        error
    }
}

impl From<MetadataError> for OAuthError {
    fn from(error: MetadataError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            error.code.as_str(),
            error.description,
        )
    }
}

impl From<ApiError> for OAuthError {
    fn from(error: ApiError) -> Self {
        // The ApiError constructors log 500s, so this only maps the status.
        let code = match error.status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            status if status.is_server_error() => "server_error",
            _ => "invalid_request",
        };
        let mut mapped = Self::new(error.status, code, error.message);
        mapped.retry_after = error.retry_after;
        mapped
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Returns a JSON response that caches must not keep, because it may carry
/// secrets (RFC 7591 §3.2.1).
fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl AppState {
    /// Loads the server of an OAuth path, or fails with 404.
    async fn oauth_server(&self, project: &str, server_id: &str) -> Result<McpServer, OAuthError> {
        let backend = self.backend();
        let project_owned = project.to_owned();
        let server_owned = server_id.to_owned();
        blocking(move || Ok(backend.load_mcp_server(&project_owned, &server_owned)?))
            .await?
            .ok_or_else(|| {
                OAuthError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!(
                        "no MCP server `{server_id}` in project `{project}`: check the issuer URL"
                    ),
                )
            })
    }

    /// Runs the server's registration flow on `metadata` and returns its
    /// decision; `unverified` when the server has no flow.
    async fn decide_registration(
        &self,
        project: &str,
        server: &McpServer,
        issuer: &str,
        metadata: &ClientMetadata,
        existing: Option<&RegisteredClient>,
        remote_address: Option<&str>,
    ) -> Result<Decision, OAuthError> {
        let Some(flow_id) = &server.registration_flow_id else {
            return Ok(Decision::Register(Verification::Unverified));
        };
        let deployed = self.deployed_flow(project, flow_id).await.map_err(|error| {
            tracing::error!(
                project.id = %project,
                mcp.server.id = %server.id,
                flow.id = %flow_id,
                error = %error.message,
                "Client registration flow cannot run"
            );
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the client registration flow of this server cannot run; the details are in the server log",
            )
        })?;
        let input = registration_input(server, issuer, metadata, existing, remote_address);
        let report = self.execute(project, deployed, input, new_run_id()).await?;
        if report.status == crate::executor::RunStatus::Failed {
            let reason = report
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            tracing::warn!(
                project.id = %project,
                mcp.server.id = %server.id,
                run.id = %report.run_id,
                error = %reason,
                "Client registration flow failed; the client is not registered"
            );
            return Err(OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!(
                    "the client registration flow failed (run `{}`); retry later",
                    report.run_id
                ),
            ));
        }
        decision_from_run(&report).map_err(|message| {
            tracing::error!(project.id = %project, run.id = %report.run_id, error = %message, "Client registration flow returned no valid decision");
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("the client registration flow returned no valid decision (run `{}`)", report.run_id),
            )
        })
    }
}

/// Network address of the caller, when the server was started with
/// connection info (a test router driven without a socket has none).
struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

impl Peer {
    fn remote_address(&self) -> Option<String> {
        self.0.map(|address| address.to_string())
    }
}

/// Reads a JSON object body of at most [`MAX_REGISTRATION_BODY_BYTES`].
async fn read_metadata_body(
    headers: &HeaderMap,
    read_timeout: BodyReadTimeout,
    body: Body,
) -> Result<Value, OAuthError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let is_json = content_type
            .to_str()
            .ok()
            .and_then(|text| text.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(OAuthError::invalid_metadata(
                "send the client metadata as `Content-Type: application/json`",
            ));
        }
    }
    // The same body deadline as the management API, so a client that stalls
    // its body cannot hold a connection, or a graceful shutdown, open.
    let read = tokio::time::timeout(read_timeout.0, to_bytes(body, MAX_REGISTRATION_BODY_BYTES))
        .await
        .map_err(|_| {
            OAuthError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                format!(
                    "the request body did not arrive within {} ms (`body_read_timeout_ms`); send the whole \
                     body without pausing",
                    read_timeout.0.as_millis()
                ),
            )
        })?;
    let bytes = read.map_err(|_| {
            OAuthError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_client_metadata",
                format!("the request body is larger than {MAX_REGISTRATION_BODY_BYTES} bytes"),
            )
        })?;
    if let Some(message) = too_deep_message(&bytes) {
        return Err(OAuthError::invalid_metadata(message));
    }
    serde_json::from_slice(&bytes).map_err(|err| {
        OAuthError::invalid_metadata(format!("the request body is not valid JSON: {err}"))
    })
}

/// Returns the registration response fields of a client: its id, issue
/// time, registration URI and metadata.
fn client_information(client: &RegisteredClient, issuer: &str) -> Map<String, Value> {
    let mut fields = match serde_json::to_value(&client.metadata) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    fields.insert(
        "client_id".to_owned(),
        Value::from(client.client_id.as_str()),
    );
    fields.insert(
        "client_id_issued_at".to_owned(),
        Value::from(client.issued_at),
    );
    fields.insert(
        "registration_client_uri".to_owned(),
        Value::from(format!("{issuer}/register/{}", client.client_id)),
    );
    if client.metadata.is_confidential() {
        // Secrets do not expire.
        fields.insert("client_secret_expires_at".to_owned(), Value::from(0));
    }
    fields
}

/// Returns a new random secret: 64 hex digits from two version 4 UUIDs,
/// 244 random bits.
fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

async fn server_metadata(
    State(state): State<AppState>,
    Path((project, server_id)): Path<(String, String)>,
) -> Result<Response, OAuthError> {
    let server = state.oauth_server(&project, &server_id).await?;
    let issuer = issuer(&state.public_url()?, &project, &server.id);
    Ok(Json(authorization_server_metadata(&server, &issuer)).into_response())
}

async fn register_client(
    State(state): State<AppState>,
    Path((project, server_id)): Path<(String, String)>,
    peer: Peer,
    Extension(read_timeout): Extension<BodyReadTimeout>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let remote = peer.remote_address();
    state.check_registration_rate(peer.0)?;
    let server = state.oauth_server(&project, &server_id).await?;
    if !server.registration.dynamic_client_registration {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("MCP server `{server_id}` does not accept dynamic client registration"),
        ));
    }
    let request = read_metadata_body(&headers, read_timeout, body).await?;
    let metadata = validate_client_metadata(&request, server.metadata_policy())?;
    let issuer = issuer(&state.public_url()?, &project, &server.id);
    let decision = state
        .decide_registration(
            &project,
            &server,
            &issuer,
            &metadata,
            None,
            remote.as_deref(),
        )
        .await?;
    let actor = Actor {
        id: format!("mcp:{server_id}"),
        remote_address: remote.clone(),
    };

    let verification = match decision {
        Decision::Register(verification) => verification,
        Decision::Reject(reason) => {
            let mut extra = Map::new();
            extra.insert("reason".to_owned(), Value::from(reason.as_str()));
            extra.insert("redirectUris".to_owned(), json!(metadata.redirect_uris));
            let event = client_event(
                CLIENT_REGISTRATION_REJECTED,
                &server.id,
                "",
                metadata.client_name.as_deref(),
                "rejected",
                &actor,
                extra,
            );
            let backend = state.backend();
            let project_owned = project.clone();
            blocking(move || Ok(backend.record_audit(&project_owned, event)?)).await?;
            tracing::info!(project.id = %project, mcp.server.id = %server.id, reason = %reason, "Rejected MCP client registration");
            return Err(OAuthError::invalid_metadata(reason));
        }
    };

    let client_secret = metadata.is_confidential().then(new_secret);
    let registration_token = new_secret();
    let now = now_millis();
    let client = RegisteredClient {
        client_id: uuid::Uuid::new_v4().simple().to_string(),
        server_id: server.id.clone(),
        metadata,
        verification,
        client_secret_hash: client_secret.as_deref().map(hash_secret),
        registration_token_hash: hash_secret(&registration_token),
        issued_at: now / 1000,
        updated: now,
    };
    let event = client.event(CLIENT_REGISTERED, &actor, Map::new());
    let backend = state.backend();
    let project_owned = project.clone();
    let stored = client.clone();
    blocking(move || Ok(backend.insert_mcp_client(&project_owned, &stored, event)?)).await?;
    tracing::info!(
        project.id = %project,
        mcp.server.id = %server.id,
        mcp.client.id = %client.client_id,
        status = client.verification.as_str(),
        "Registered MCP client"
    );

    let mut body = client_information(&client, &issuer);
    if let Some(secret) = client_secret {
        body.insert("client_secret".to_owned(), Value::from(secret));
    }
    body.insert(
        "registration_access_token".to_owned(),
        Value::from(registration_token),
    );
    Ok(no_store(StatusCode::CREATED, Value::Object(body)))
}

/// Loads the client of an RFC 7592 request and checks its registration
/// access token in constant time. Fails with 401 for a wrong or missing
/// token, an unknown client, or a client of another server.
async fn authorized_client(
    state: &AppState,
    project: &str,
    server_id: &str,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<RegisteredClient, OAuthError> {
    let token = bearer_token(headers).ok_or_else(OAuthError::invalid_token)?;
    let presented = hash_secret(token);
    let backend = state.backend();
    let project_owned = project.to_owned();
    let client_owned = client_id.to_owned();
    let client = blocking(move || Ok(backend.load_mcp_client(&project_owned, &client_owned)?))
        .await?
        .filter(|client| client.server_id == server_id)
        .ok_or_else(OAuthError::invalid_token)?;
    if !bool::from(
        client
            .registration_token_hash
            .as_bytes()
            .ct_eq(presented.as_bytes()),
    ) {
        return Err(OAuthError::invalid_token());
    }
    Ok(client)
}

async fn read_client(
    State(state): State<AppState>,
    Path((project, server_id, client_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let client = authorized_client(&state, &project, &server_id, &client_id, &headers).await?;
    let issuer = issuer(&state.public_url()?, &project, &server_id);
    let mut body = client_information(&client, &issuer);
    echo_token(&mut body, &headers);
    Ok(no_store(StatusCode::OK, Value::Object(body)))
}

/// Adds the caller's own registration access token to an RFC 7592
/// response, which carries it like the registration response. Sluice
/// keeps only the token's hash, so the token comes from the request,
/// which [`authorized_client`] has checked.
fn echo_token(body: &mut Map<String, Value>, headers: &HeaderMap) {
    if let Some(token) = bearer_token(headers) {
        body.insert("registration_access_token".to_owned(), Value::from(token));
    }
}

/// Returns the token of an `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .filter(|token| !token.is_empty())
}

async fn update_client(
    State(state): State<AppState>,
    Path((project, server_id, client_id)): Path<(String, String, String)>,
    peer: Peer,
    Extension(read_timeout): Extension<BodyReadTimeout>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let client = authorized_client(&state, &project, &server_id, &client_id, &headers).await?;
    let server = state.oauth_server(&project, &server_id).await?;
    let request = read_metadata_body(&headers, read_timeout, body).await?;

    // RFC 7592 §2.2: the body names the client, and a secret it sends must
    // be the current one.
    if request.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body must contain `client_id` \"{client_id}\""),
        ));
    }
    if let Some(secret) = request.get("client_secret") {
        let matches = secret.as_str().is_some_and(|secret| {
            client.client_secret_hash.as_deref().is_some_and(|hash| {
                bool::from(hash.as_bytes().ct_eq(hash_secret(secret).as_bytes()))
            })
        });
        if !matches {
            return Err(OAuthError::invalid_metadata(
                "`client_secret` does not match the client's secret",
            ));
        }
    }

    let metadata = validate_client_metadata(&request, server.metadata_policy())?;
    if metadata.is_confidential() != client.metadata.is_confidential() {
        return Err(OAuthError::invalid_metadata(
            "`token_endpoint_auth_method` cannot change between `none` and a secret method: register a new client",
        ));
    }

    let remote = peer.remote_address();
    let issuer = issuer(&state.public_url()?, &project, &server.id);
    let decision = state
        .decide_registration(
            &project,
            &server,
            &issuer,
            &metadata,
            Some(&client),
            remote.as_deref(),
        )
        .await?;
    let verification = match decision {
        Decision::Register(verification) => verification,
        Decision::Reject(reason) => return Err(OAuthError::invalid_metadata(reason)),
    };

    let actor = Actor {
        id: format!("mcp:{server_id}"),
        remote_address: remote,
    };
    let backend = state.backend();
    let project_owned = project.clone();
    let updated = blocking(move || {
        Ok(
            backend.modify_mcp_client(&project_owned, &client_id, &mut |client| {
                let mut extra = Map::new();
                extra.insert(
                    "previousStatus".to_owned(),
                    Value::from(client.verification.as_str()),
                );
                client.metadata = metadata.clone();
                client.verification = verification;
                client.updated = now_millis();
                Ok(Some(client.event(CLIENT_UPDATED, &actor, extra)))
            })?,
        )
    })
    .await?;
    tracing::info!(
        project.id = %project,
        mcp.client.id = %updated.client_id,
        status = updated.verification.as_str(),
        "Updated MCP client metadata"
    );
    let mut body = client_information(&updated, &issuer);
    echo_token(&mut body, &headers);
    Ok(no_store(StatusCode::OK, Value::Object(body)))
}

async fn delete_client(
    State(state): State<AppState>,
    Path((project, server_id, client_id)): Path<(String, String, String)>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let client = authorized_client(&state, &project, &server_id, &client_id, &headers).await?;
    let actor = Actor {
        id: format!("mcp:{server_id}"),
        remote_address: peer.remote_address(),
    };
    let event = client.event(CLIENT_DELETED, &actor, Map::new());
    let backend = state.backend();
    let project_owned = project.clone();
    blocking(move || Ok(backend.delete_mcp_client(&project_owned, &client_id, event)?)).await?;
    tracing::info!(project.id = %project, mcp.client.id = %client.client_id, "Deleted MCP client through RFC 7592");
    Ok(StatusCode::NO_CONTENT.into_response())
}
