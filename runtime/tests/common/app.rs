//! An in-process router over a memory store with two projects, driven with
//! `tower::ServiceExt::oneshot` and no socket.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sluice::api::auth::hash_secret;
use sluice::api::{ApiSettings, AppState, router};
use sluice::executor::{RunSettings, Runtime};
use sluice::store::{ManagementKey, MemoryStore, ProjectStore};
use tower::ServiceExt;

pub const PROJECT: &str = "P-first";
pub const OTHER_PROJECT: &str = "P-second";
pub const AUTH: &str = "Bearer P-first:secret";
pub const OTHER_AUTH: &str = "Bearer P-second:other-secret";
/// Public base URL the app reports in issuer URLs.
pub const PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// A router with its store and state.
pub struct TestApp {
    pub app: Router,
    pub backend: Arc<MemoryStore>,
    pub state: AppState,
}

/// A response: status, headers and the JSON body (`null` when empty, a
/// string when not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// Builds the router with the built-in components and two projects,
    /// each with one management key.
    pub fn new(settings: ApiSettings) -> Self {
        let backend = Arc::new(MemoryStore::new());
        let keys = [
            (PROJECT, "K-first", "secret"),
            (OTHER_PROJECT, "K-second", "other-secret"),
        ];
        for (project, key_id, secret) in keys {
            backend
                .create_project(project, project)
                .expect("project is created");
            let key = ManagementKey {
                id: key_id.to_owned(),
                project: project.to_owned(),
                name: "test key".to_owned(),
                secret_hash: hash_secret(secret),
                created: 0,
            };
            backend.add_key(&key).expect("key is added");
        }
        let runtime = Runtime::new(
            super::engine(),
            Arc::new(super::builtins()),
            backend.clone(),
            RunSettings::default(),
        );
        let state = AppState::new(backend.clone(), runtime, settings);
        state.set_public_url(PUBLIC_URL);
        let app = router(state.clone());
        Self {
            app,
            backend,
            state,
        }
    }

    /// Sends a request from `peer` with `headers`, and a raw body.
    pub async fn send_from(
        &self,
        peer: SocketAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request is valid");
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body is read")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends a request from 127.0.0.1.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        self.send_from(
            SocketAddr::from(([127, 0, 0, 1], 50000)),
            method,
            path,
            headers,
            body,
        )
        .await
    }

    /// Sends an authenticated management POST for the first project.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(AUTH, path, body).await
    }

    /// Sends a management POST with `auth`.
    pub async fn post_as(&self, auth: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let reply = self
            .send(
                Method::POST,
                path,
                &[("authorization", auth)],
                Some(body.to_string()),
            )
            .await;
        (reply.status, reply.body)
    }

    /// Sends an authenticated management GET for the first project.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let reply = self
            .send(Method::GET, path, &[("authorization", AUTH)], None)
            .await;
        (reply.status, reply.body)
    }
}
