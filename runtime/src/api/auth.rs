//! Authentication of management calls: `Authorization: Bearer
//! <ProjectID>:<ManagementKey>`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::store::{Actor, ManagementKey};

/// The authenticated caller of a management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Project the key belongs to; every call acts inside it.
    pub project: String,
    /// Id of the management key used.
    pub key_id: String,
    /// Network address of the client.
    pub remote_address: Option<String>,
}

impl Caller {
    /// Returns the actor recorded on changes made by this caller.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.key_id.clone(),
            remote_address: self.remote_address.clone(),
        }
    }
}

/// Returns the SHA-256 of a management key secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(secret.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Returns the key whose hash equals `secret_hash`, comparing every key in
/// constant time so the time taken does not depend on how much matched.
fn find_key<'a>(keys: &'a [ManagementKey], secret_hash: &str) -> Option<&'a ManagementKey> {
    let mut found = None;
    for key in keys {
        if bool::from(key.secret_hash.as_bytes().ct_eq(secret_hash.as_bytes())) {
            found = Some(key);
        }
    }
    found
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let credentials = header
            .strip_prefix("Bearer ")
            .ok_or_else(ApiError::unauthorized)?;
        let (project, secret) = credentials.split_once(':').ok_or_else(ApiError::unauthorized)?;
        if project.is_empty() || secret.is_empty() {
            return Err(ApiError::unauthorized());
        }
        let secret_hash = hash_secret(secret);
        let key_id = match state.cached_key(project, &secret_hash) {
            Some(key_id) => key_id,
            None => {
                let backend = state.backend();
                let project_owned = project.to_owned();
                let keys = tokio::task::spawn_blocking(move || backend.keys(&project_owned))
                    .await
                    .map_err(ApiError::internal)??;
                let key = find_key(&keys, &secret_hash).ok_or_else(ApiError::unauthorized)?;
                state.cache_key(project, &secret_hash, &key.id);
                key.id.clone()
            }
        };
        let remote_address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip().to_string());
        Ok(Self {
            project: project.to_owned(),
            key_id,
            remote_address,
        })
    }
}
