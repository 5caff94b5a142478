//! Connector instances: a connector component configured for one project
//! with a base URL, authentication, default headers and secrets.
//!
//! A flow's connector step names an instance, which becomes the step's
//! [`ConnectorBinding`] at run time. The component may reach the base URL's
//! origin, plus the origins a published component's manifest declares. The
//! host adds the default headers and the authentication to requests to the
//! base URL's origin only. The component can read the secrets and plain
//! settings of its own instance, and of no other.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{ErrorKind, StepFailure};
use crate::host::ConnectorBinding;
use crate::secrets::SecretKey;
use crate::store::{ConnectorStore, StoreError, StoredConnector};

/// Name of the secret with the token of `bearer` authentication.
pub const TOKEN_SECRET: &str = "token";
/// Name of the secret with the password of `basic` authentication.
pub const PASSWORD_SECRET: &str = "password";
/// Name of the secret with the key of `apiKey` authentication.
pub const API_KEY_SECRET: &str = "apiKey";
/// Name of the secret with the client secret of OAuth2 client credentials.
pub const CLIENT_SECRET: &str = "clientSecret";

/// How long before its expiry a cached access token is replaced.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// A connector instance without its secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorInstance {
    /// Name that flow steps use, unique in the project.
    pub name: String,
    /// Connector component, such as `builtin:http`.
    pub component: String,
    /// Absolute `http` or `https` URL the component's requests go under.
    pub base_url: String,
    /// Authentication the host adds to requests to the base URL's origin.
    #[serde(default)]
    pub auth: ConnectorAuth,
    /// Headers the host adds to every request to the base URL's origin.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Plain settings the component reads with `connector-config.get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Names of the stored secrets; their values are never returned.
    #[serde(default)]
    pub secret_names: Vec<String>,
    /// Creation time in Unix milliseconds.
    #[serde(default)]
    pub created: u64,
    /// Time of the last change in Unix milliseconds.
    #[serde(default)]
    pub updated: u64,
}

/// Authentication the host adds to requests to the instance's origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ConnectorAuth {
    /// No authentication header.
    #[default]
    None,
    /// `Authorization: Bearer <token>`, from the secret `token`.
    Bearer,
    /// `Authorization: Basic ...` from `username` and the secret `password`.
    Basic {
        /// User name.
        username: String,
    },
    /// The secret `apiKey` in the named header.
    ApiKey {
        /// Header name, such as `x-api-key`.
        header: String,
    },
    /// `Authorization: Bearer` with an access token that the host gets
    /// from `tokenUrl` with the OAuth 2.0 client credentials grant
    /// (RFC 6749, section 4.4), sending `clientId` and the secret
    /// `clientSecret` in the form body, and reuses until shortly before it
    /// expires.
    #[serde(rename = "oauth2ClientCredentials", rename_all = "camelCase")]
    OAuth2ClientCredentials {
        /// Token endpoint, an absolute http or https URL.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Space-separated scopes to request, if any.
        #[serde(default)]
        scope: Option<String>,
    },
}

impl ConnectorAuth {
    /// Returns the secret this authentication needs, if any.
    pub fn required_secret(&self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Bearer => Some(TOKEN_SECRET),
            Self::Basic { .. } => Some(PASSWORD_SECRET),
            Self::ApiKey { .. } => Some(API_KEY_SECRET),
            Self::OAuth2ClientCredentials { .. } => Some(CLIENT_SECRET),
        }
    }
}

/// Checks an instance and the names of its secrets, and returns every
/// problem, each naming the field and the fix.
pub fn validate_instance(instance: &ConnectorInstance, secret_names: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if !is_name(&instance.name) {
        problems.push(format!(
            "`name` {:?} is invalid: use 1 to 64 letters, digits, `_` and `-`, such as \"slack-alerts\"",
            instance.name
        ));
    }
    if origin_of(&instance.base_url).is_none() {
        problems.push(format!(
            "`baseUrl` {:?} is invalid: write an absolute http or https URL, such as \"https://api.example.com/v1\"",
            instance.base_url
        ));
    }
    for name in instance.headers.keys() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push(format!(
                "`headers` has the invalid header name {name:?}: use letters, digits and `-`"
            ));
        }
    }
    for (name, value) in &instance.headers {
        if http::HeaderValue::from_str(value).is_err() {
            problems.push(format!(
                "`headers.{name}` is not a valid header value: remove control characters"
            ));
        }
    }
    if let ConnectorAuth::ApiKey { header } = &instance.auth
        && http::HeaderName::from_bytes(header.as_bytes()).is_err()
    {
        problems.push(format!(
            "`auth.header` {header:?} is not a valid header name"
        ));
    }
    if let Some(secret) = instance.auth.required_secret()
        && !secret_names.iter().any(|name| name == secret)
    {
        problems.push(format!(
            "`auth` needs the secret `{secret}`: send it in `secrets`, such as {{\"{secret}\": \"...\"}}"
        ));
    }
    for name in secret_names {
        if !is_name(name) {
            problems.push(format!(
                "`secrets` has the invalid name {name:?}: use letters, digits, `_` and `-`"
            ));
        }
    }
    problems
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Returns the origin of an absolute http or https URL as
/// `scheme://host:port`, with the default port filled in.
pub fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = uri.host().filter(|host| !host.is_empty())?;
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
}

/// Builds the headers the host adds to requests to the instance's origin.
/// `access_token` is the OAuth2 token, for that authentication only.
fn injected_headers(
    instance: &ConnectorInstance,
    secrets: &BTreeMap<String, String>,
    access_token: Option<&str>,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = instance
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let secret = |name: &str| secrets.get(name).cloned().unwrap_or_default();
    match &instance.auth {
        ConnectorAuth::None => {}
        ConnectorAuth::Bearer => headers.push((
            "authorization".to_owned(),
            format!("Bearer {}", secret(TOKEN_SECRET)),
        )),
        ConnectorAuth::Basic { username } => {
            let pair = format!("{username}:{}", secret(PASSWORD_SECRET));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(("authorization".to_owned(), format!("Basic {encoded}")));
        }
        ConnectorAuth::ApiKey { header } => headers.push((header.clone(), secret(API_KEY_SECRET))),
        ConnectorAuth::OAuth2ClientCredentials { .. } => headers.push((
            "authorization".to_owned(),
            format!("Bearer {}", access_token.unwrap_or_default()),
        )),
    }
    headers
}

/// An access token and when to stop using it.
#[derive(Clone)]
struct CachedToken {
    token: String,
    replace_at: Instant,
}

/// Gets an access token with the client credentials grant.
fn fetch_token(token_url: &str, client_id: &str, client_secret: &str, scope: Option<&str>) -> Result<(String, Duration), String> {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .post(token_url)
        .send_form(form)
        .map_err(|err| format!("requesting an OAuth2 token from {token_url} failed: {err}"))?;
    let status = response.status().as_u16();
    let body: Value = response
        .body_mut()
        .read_json()
        .map_err(|err| format!("the token endpoint {token_url} returned status {status} and no JSON: {err}"))?;
    if status != 200 {
        let reason = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no reason given");
        return Err(format!("the token endpoint {token_url} refused the client credentials ({status}): {reason}"));
    }
    let token = body["access_token"]
        .as_str()
        .filter(|token| !token.is_empty())
        .ok_or_else(|| format!("the token endpoint {token_url} returned no `access_token`"))?;
    // RFC 6749 makes `expires_in` optional; without it the token is reused
    // for five minutes.
    let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(300));
    Ok((token.to_owned(), lifetime))
}

/// Turns stored instances into step bindings, decrypting their secrets.
pub struct ConnectorResolver {
    store: Arc<dyn ConnectorStore>,
    key: SecretKey,
    /// OAuth2 access tokens by (project, instance name, client id).
    tokens: Mutex<HashMap<(String, String, String), CachedToken>>,
}

impl std::fmt::Debug for ConnectorResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorResolver").finish_non_exhaustive()
    }
}

impl ConnectorResolver {
    /// Creates a resolver over `store`, whose secrets were sealed with `key`.
    pub fn new(store: Arc<dyn ConnectorStore>, key: SecretKey) -> Self {
        Self {
            store,
            key,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Returns a valid access token for an instance with OAuth2 client
    /// credentials, from the cache or the token endpoint.
    fn access_token(
        &self,
        project: &str,
        instance: &ConnectorInstance,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Option<String>, StepFailure> {
        let ConnectorAuth::OAuth2ClientCredentials { token_url, client_id, scope } = &instance.auth else {
            return Ok(None);
        };
        let key = (project.to_owned(), instance.name.clone(), client_id.clone());
        let now = Instant::now();
        if let Some(cached) = self.tokens.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
            && cached.replace_at > now
        {
            return Ok(Some(cached.token.clone()));
        }
        let client_secret = secrets.get(CLIENT_SECRET).map_or("", String::as_str);
        let (token, lifetime) = fetch_token(token_url, client_id, client_secret, scope.as_deref())
            .map_err(|message| StepFailure::new(ErrorKind::UpstreamFailure, message))?;
        let cached = CachedToken {
            token: token.clone(),
            replace_at: now + lifetime.saturating_sub(TOKEN_EXPIRY_MARGIN),
        };
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(key, cached);
        tracing::debug!(project.id = %project, connector = %instance.name, lifetime_s = lifetime.as_secs(), "Got an OAuth2 access token");
        Ok(Some(token))
    }

    /// Returns the key that seals and opens the secrets.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// Seals a secret map for storing.
    pub fn seal(&self, secrets: &BTreeMap<String, String>) -> Vec<u8> {
        let plaintext = serde_json::to_vec(secrets).unwrap_or_default();
        self.key.seal(&plaintext)
    }

    /// Opens a stored secret map.
    ///
    /// # Errors
    ///
    /// Fails when the secrets were sealed under another key or changed.
    pub fn open(&self, stored: &StoredConnector) -> Result<BTreeMap<String, String>, StoreError> {
        if stored.sealed_secrets.is_empty() {
            return Ok(BTreeMap::new());
        }
        let plaintext = self.key.open(&stored.sealed_secrets).map_err(|err| {
            StoreError::Backend(format!("connector `{}`: {err}", stored.instance.name))
        })?;
        serde_json::from_slice(&plaintext).map_err(|err| {
            StoreError::Backend(format!(
                "connector `{}`: stored secrets are not a JSON object: {err}",
                stored.instance.name
            ))
        })
    }

    /// Returns the binding of a connector step that uses `instance_name` with
    /// the component `component`.
    ///
    /// # Errors
    ///
    /// A `not-found` failure when the instance does not exist, an
    /// `invalid-config` failure when it is for another component, and an
    /// `internal` failure when its secrets cannot be opened.
    pub fn resolve(
        &self,
        project: &str,
        instance_name: &str,
        component: &str,
    ) -> Result<ConnectorBinding, StepFailure> {
        let stored = self
            .store
            .load_connector(project, instance_name)
            .map_err(|err| StepFailure::new(ErrorKind::Internal, format!("loading connector instance failed: {err}")))?
            .ok_or_else(|| {
                StepFailure::new(
                    ErrorKind::NotFound,
                    format!(
                        "connector instance `{instance_name}` not found in the project; create it with \
                         POST /v1/mgmt/connector/create"
                    ),
                )
            })?;
        let instance = &stored.instance;
        if instance.component != component {
            return Err(StepFailure::new(
                ErrorKind::InvalidConfig,
                format!(
                    "connector instance `{instance_name}` is for `{}`, but the step runs `{component}`; \
                     use an instance of `{component}`",
                    instance.component
                ),
            ));
        }
        let secrets = self
            .open(&stored)
            .map_err(|err| StepFailure::new(ErrorKind::Internal, err.to_string()))?;
        let access_token = self.access_token(project, instance, &secrets)?;
        let origin = origin_of(&instance.base_url).unwrap_or_default();
        let mut config: HashMap<String, String> = instance
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        config.insert("baseUrl".to_owned(), instance.base_url.clone());
        config.insert("name".to_owned(), instance.name.clone());
        Ok(ConnectorBinding {
            config,
            injected_headers: injected_headers(instance, &secrets, access_token.as_deref()),
            secrets: secrets.into_iter().collect(),
            allowed_origins: vec![origin],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(auth: ConnectorAuth) -> ConnectorInstance {
        ConnectorInstance {
            name: "crm".to_owned(),
            component: "builtin:http".to_owned(),
            base_url: "https://api.example.test/v1".to_owned(),
            auth,
            headers: BTreeMap::from([("x-team".to_owned(), "identity".to_owned())]),
            config: BTreeMap::new(),
            secret_names: Vec::new(),
            created: 0,
            updated: 0,
        }
    }

    #[test]
    fn origin_fills_default_ports() {
        assert_eq!(
            origin_of("https://API.example.test/v1").as_deref(),
            Some("https://api.example.test:443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("ftp://example.test"), None);
        assert_eq!(origin_of("/relative"), None);
    }

    #[test]
    fn validation_names_each_problem() {
        let mut bad = instance(ConnectorAuth::Bearer);
        bad.name = "has space".to_owned();
        bad.base_url = "not a url".to_owned();
        let problems = validate_instance(&bad, &[]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("`name`")));
        assert!(problems.iter().any(|p| p.contains("`baseUrl`")));
        assert!(problems.iter().any(|p| p.contains("secret `token`")));
        assert!(
            validate_instance(&instance(ConnectorAuth::Bearer), &["token".to_owned()]).is_empty()
        );
    }

    #[test]
    fn auth_becomes_headers() {
        let secrets = BTreeMap::from([
            ("token".to_owned(), "t0k".to_owned()),
            ("password".to_owned(), "pw".to_owned()),
            ("apiKey".to_owned(), "k3y".to_owned()),
        ]);
        let bearer = injected_headers(&instance(ConnectorAuth::Bearer), &secrets, None);
        assert!(bearer.contains(&("authorization".to_owned(), "Bearer t0k".to_owned())));
        assert!(bearer.contains(&("x-team".to_owned(), "identity".to_owned())));
        let basic = injected_headers(
            &instance(ConnectorAuth::Basic {
                username: "ada".to_owned(),
            }),
            &secrets,
            None,
        );
        assert!(basic.contains(&("authorization".to_owned(), "Basic YWRhOnB3".to_owned())));
        let key = injected_headers(
            &instance(ConnectorAuth::ApiKey {
                header: "x-api-key".to_owned(),
            }),
            &secrets,
            None,
        );
        assert!(key.contains(&("x-api-key".to_owned(), "k3y".to_owned())));
    }
}
