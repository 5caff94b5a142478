//! Client ID Metadata Documents, from draft-ietf-oauth-client-id-metadata-document,
//! which the MCP authorization specification of 2025-11-25 adopts. A client
//! whose `client_id` is an HTTPS URL publishes its RFC 7591 client metadata
//! at that URL. The authorization server fetches it in place of a
//! registration.
//!
//! [`CimdResolver`] checks the URL, fetches the document with the host's
//! [`EgressClient`] (so the egress policy's private-address rule, timeout
//! and size cap apply), validates it, and caches the result per (project,
//! MCP server, URL) by the response's cache headers.
//!
//! A host is approved when it equals an approved domain or is a subdomain of
//! one (label by label, so `example.com` approves `mcp.example.com` but not
//! `badexample.com`). An IP address host is approved only by the same
//! address written as a domain entry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use super::cimd_cache::{CacheBounds, ExpiringMap, cache_lifetime};
use super::clients::ClientMetadata;
use super::registration::{MetadataPolicy, validate_client_metadata};
use super::servers::host_in_domain;
use crate::engine::{EgressClient, EgressError};

/// Largest document accepted by default, in bytes. The draft recommends
/// that authorization servers cap documents at 5 KB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 5 * 1024;

/// Audit action recorded when a server first resolves a metadata document,
/// or resolves one whose content changed.
pub const CLIENT_METADATA_RESOLVED: &str = "McpClientMetadataResolved";

/// Audit action recorded when fetching or validating a metadata document fails.
pub const CLIENT_METADATA_REJECTED: &str = "McpClientMetadataRejected";

/// Maximum length of a `client_id` URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Error of resolving a `client_id` URL to a client. Every message names
/// the URL and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimdError {
    /// The MCP server does not accept Client ID Metadata Documents.
    #[error(
        "client_id {url:?} is a Client ID Metadata Document URL, but this MCP server does not accept them; \
         register the client, or turn on `clientIdMetadataDocuments` in the server's registration settings"
    )]
    Disabled {
        /// The `client_id`.
        url: String,
    },
    /// The URL breaks the draft's rules for client identifier URLs.
    #[error("client_id {url:?} is not a valid Client ID Metadata Document URL: {reason}")]
    InvalidUrl {
        /// The `client_id`.
        url: String,
        /// The broken rule and the fix.
        reason: String,
    },
    /// The URL's host is not under an approved domain of the MCP server.
    #[error(
        "client_id {url:?} is on the host {host:?}, which is not under an approved CIMD domain of this \
         MCP server; add the domain to the server's `approvedCimdDomains` to accept it"
    )]
    DomainNotApproved {
        /// The `client_id`.
        url: String,
        /// The URL's host.
        host: String,
    },
    /// The document could not be fetched, or the response is not a document.
    #[error("fetching the Client ID Metadata Document {url} failed: {reason}")]
    FetchFailed {
        /// The `client_id`.
        url: String,
        /// The failure.
        reason: String,
    },
    /// The document was fetched but its content is not valid client metadata.
    #[error("the Client ID Metadata Document {url} is invalid: {reason}")]
    InvalidDocument {
        /// The `client_id`.
        url: String,
        /// The invalid field and the rule it breaks.
        reason: String,
    },
}

/// A client described by a valid Client ID Metadata Document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CimdClient {
    /// The document's URL, equal to its `client_id`.
    pub client_id: String,
    /// The document's client metadata after validation, with the RFC 7591
    /// defaults filled in.
    pub metadata: ClientMetadata,
    /// Time of the fetch in milliseconds since the Unix epoch.
    pub fetched: u64,
}

/// A fetched document that is a JSON object, before validation against an
/// MCP server's rules.
#[derive(Debug, Clone, PartialEq)]
struct FetchedDocument {
    fields: Map<String, Value>,
    fetched: u64,
}

/// Settings of the resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CimdSettings {
    /// Largest document accepted, in bytes; the egress policy's
    /// `max_response_bytes` caps it as well.
    pub max_document_bytes: u64,
    /// Bounds on how long a valid document is reused.
    pub cache: CacheBounds,
    /// How long a failed resolution is remembered before the next fetch.
    pub failure_ttl: Duration,
    /// Maximum number of cached resolutions, valid and failed together.
    pub max_entries: usize,
}

impl Default for CimdSettings {
    fn default() -> Self {
        Self {
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            cache: CacheBounds {
                min_ttl: Duration::from_secs(60),
                max_ttl: Duration::from_secs(24 * 60 * 60),
                default_ttl: Duration::from_secs(5 * 60),
            },
            failure_ttl: Duration::from_secs(10),
            max_entries: 10_000,
        }
    }
}

/// The Client ID Metadata Document settings of one MCP server.
#[derive(Debug, Clone, Copy)]
pub struct ServerCimdPolicy<'a> {
    /// Whether the server accepts documents at all.
    pub enabled: bool,
    /// Domains whose hosts (the domain and its subdomains) may serve them.
    pub approved_domains: &'a [String],
    /// The server's approved scopes and callback URLs, which the document's
    /// metadata must keep to.
    pub metadata: MetadataPolicy<'a>,
}

/// A fetch that the resolver made, for audit records. Cache hits make none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionEvent {
    /// A valid document was fetched.
    Resolved {
        /// Project id.
        project: String,
        /// MCP server id.
        server: String,
        /// The `client_id` URL.
        client_id: String,
        /// The document's `client_name`, if any.
        client_name: Option<String>,
        /// Whether the resolver had not seen this document before, for this
        /// server: the first fetch since the server started, or content
        /// that changed since the last fetch.
        new_document: bool,
    },
    /// The fetch or the validation failed.
    Failed {
        /// Project id.
        project: String,
        /// MCP server id.
        server: String,
        /// The `client_id` URL.
        client_id: String,
        /// The error message.
        reason: String,
    },
}

/// Receives every [`ResolutionEvent`].
pub type ResolutionObserver = Arc<dyn Fn(ResolutionEvent) + Send + Sync>;

type CacheKey = (String, String, String);
type Outcome = Result<Arc<FetchedDocument>, CimdError>;

/// Resolves `client_id` URLs to clients, with a shared cache.
pub struct CimdResolver {
    client: EgressClient,
    settings: CimdSettings,
    cache: Mutex<ExpiringMap<CacheKey, Outcome>>,
    /// Fetches in progress, so concurrent resolutions of one URL share one.
    in_flight: Mutex<HashMap<CacheKey, Arc<OnceCell<Outcome>>>>,
    /// Digests of the last document fetched per key, to tell new documents
    /// from refetched ones.
    seen: Mutex<SeenDocuments>,
    observer: Option<ResolutionObserver>,
}

impl std::fmt::Debug for CimdResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CimdResolver")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CimdResolver {
    /// Creates a resolver that fetches with `client`.
    pub fn new(client: EgressClient, settings: CimdSettings) -> Self {
        Self {
            client,
            settings,
            cache: Mutex::new(ExpiringMap::new(settings.max_entries)),
            in_flight: Mutex::new(HashMap::new()),
            seen: Mutex::new(SeenDocuments::new(settings.max_entries)),
            observer: None,
        }
    }

    /// Sets the function that receives an event for every fetch.
    #[must_use]
    pub fn with_observer(mut self, observer: ResolutionObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Returns the client that the document at `client_id` describes, for
    /// the MCP server `server` of `project` with the settings `policy`.
    ///
    /// A fetched document is reused while its cache lifetime lasts, and is
    /// validated against the server's current rules on every resolution. A
    /// failed fetch is remembered for [`CimdSettings::failure_ttl`]. A server
    /// that does not accept documents, an invalid URL and a host that is not
    /// approved fail without a fetch.
    ///
    /// # Errors
    ///
    /// A [`CimdError`] that names the URL and the reason.
    pub async fn resolve(
        &self,
        project: &str,
        server: &str,
        client_id: &str,
        policy: ServerCimdPolicy<'_>,
    ) -> Result<CimdClient, CimdError> {
        if !policy.enabled {
            return Err(CimdError::Disabled {
                url: client_id.to_owned(),
            });
        }
        check_client_id_url(client_id, policy.approved_domains)?;
        let key: CacheKey = (project.to_owned(), server.to_owned(), client_id.to_owned());
        let cached = lock(&self.cache).get(&key, Instant::now());
        let document = match cached {
            Some(outcome) => outcome?,
            None => self.fetch_shared(&key, policy.metadata).await?,
        };
        validate_document(
            client_id,
            &document.fields,
            policy.metadata,
            document.fetched,
        )
    }

    /// Fetches the document of `key`, sharing one fetch between concurrent
    /// callers.
    ///
    /// NOTE: when every caller of a fetch is cancelled, its empty entry stays
    /// in `in_flight` until the next resolution of that key takes it over.
    async fn fetch_shared(&self, key: &CacheKey, metadata_policy: MetadataPolicy<'_>) -> Outcome {
        let cell = Arc::clone(lock(&self.in_flight).entry(key.clone()).or_default());
        let outcome = cell
            .get_or_init(|| self.fetch_and_store(key, metadata_policy))
            .await
            .clone();
        let mut in_flight = lock(&self.in_flight);
        if in_flight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            in_flight.remove(key);
        }
        outcome
    }

    /// Fetches one document, caches the outcome, and reports it as resolved
    /// when it passes the server's rules.
    ///
    /// A document that the rules reject is cached for at most
    /// [`CimdSettings::failure_ttl`], so a corrected document is picked up
    /// soon without a fetch per resolution.
    async fn fetch_and_store(
        &self,
        key: &CacheKey,
        metadata_policy: MetadataPolicy<'_>,
    ) -> Outcome {
        let (project, server, url) = key;
        let fetched = self.fetch(url).await;
        let now = Instant::now();
        let (outcome, lifetime) = match fetched {
            Ok((document, lifetime, digest)) => {
                match validate_document(url, &document.fields, metadata_policy, document.fetched) {
                    Ok(client) => {
                        let new_document = lock(&self.seen).record(key, digest);
                        tracing::info!(project.id = %project, mcp.server.id = %server, client.id = %url, new_document, "Client ID Metadata Document fetched");
                        self.report(ResolutionEvent::Resolved {
                            project: project.clone(),
                            server: server.clone(),
                            client_id: url.clone(),
                            client_name: client.metadata.client_name,
                            new_document,
                        });
                        (Ok(Arc::new(document)), lifetime)
                    }
                    Err(err) => {
                        self.report_failure(key, &err);
                        let lifetime =
                            lifetime.map(|lifetime| lifetime.min(self.settings.failure_ttl));
                        (Ok(Arc::new(document)), lifetime)
                    }
                }
            }
            Err(err) => {
                self.report_failure(key, &err);
                (Err(err), Some(self.settings.failure_ttl))
            }
        };
        let mut cache = lock(&self.cache);
        match lifetime.filter(|lifetime| !lifetime.is_zero()) {
            Some(lifetime) => cache.insert(key.clone(), outcome.clone(), now + lifetime, now),
            None => cache.remove(key),
        }
        outcome
    }

    fn report_failure(&self, (project, server, url): &CacheKey, err: &CimdError) {
        tracing::warn!(project.id = %project, mcp.server.id = %server, client.id = %url, error = %err, "Client ID Metadata Document rejected");
        self.report(ResolutionEvent::Failed {
            project: project.clone(),
            server: server.clone(),
            client_id: url.clone(),
            reason: err.to_string(),
        });
    }

    fn report(&self, event: ResolutionEvent) {
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }

    /// Fetches the document at `url` and returns it, how long it may be
    /// cached (`None`: not at all) and the digest of the body.
    async fn fetch(
        &self,
        url: &str,
    ) -> Result<(FetchedDocument, Option<Duration>, [u8; 32]), CimdError> {
        let failed = |reason: String| CimdError::FetchFailed {
            url: url.to_owned(),
            reason,
        };
        let response = self
            .client
            .get(url, "application/json", self.settings.max_document_bytes)
            .await
            .map_err(|err| match err {
                EgressError::TooLarge(limit) => failed(format!(
                    "the document is larger than {limit} bytes; keep Client ID Metadata Documents small"
                )),
                other => failed(other.to_string()),
            })?;
        if response.status.is_redirection() {
            return Err(failed(format!(
                "the server answered {} with a redirect, which is not followed; serve the document at its \
                 client_id URL with status 200",
                response.status
            )));
        }
        if response.status != http::StatusCode::OK {
            return Err(failed(format!(
                "the server answered {}; serve the document with status 200",
                response.status
            )));
        }
        let content_type = response
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if !is_json_media_type(content_type) {
            return Err(failed(format!(
                "the content type is {content_type:?}; serve the document as application/json"
            )));
        }
        let document: Value =
            serde_json::from_slice(&response.body).map_err(|err| CimdError::InvalidDocument {
                url: url.to_owned(),
                reason: format!("the body is not valid JSON: {err}"),
            })?;
        let Value::Object(fields) = document else {
            return Err(CimdError::InvalidDocument {
                url: url.to_owned(),
                reason: "the document is not a JSON object".to_owned(),
            });
        };
        let document = FetchedDocument {
            fields,
            fetched: unix_millis(),
        };
        let lifetime = cache_lifetime(&response.headers, SystemTime::now(), self.settings.cache);
        Ok((document, lifetime, Sha256::digest(&response.body).into()))
    }
}

/// Returns whether a `client_id` is meant as a Client ID Metadata Document
/// URL rather than an id from a registration: it has a URL scheme.
pub fn is_metadata_document_url(client_id: &str) -> bool {
    client_id.contains("://")
}

/// Checks a `client_id` URL against the draft's rules and the approved
/// domains: `https` scheme, a path other than `/` without `.` or `..`
/// segments, no fragment, no user name or password, and a host equal to or
/// under an approved domain.
///
/// # Errors
///
/// [`CimdError::InvalidUrl`] or [`CimdError::DomainNotApproved`].
pub fn check_client_id_url(url: &str, approved_domains: &[String]) -> Result<(), CimdError> {
    let invalid = |reason: &str| CimdError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.len() > MAX_URL_BYTES {
        return Err(invalid(&format!("it is longer than {MAX_URL_BYTES} bytes")));
    }

    let Some(rest) = url.strip_prefix("https://") else {
        return Err(invalid(
            "it must use the https scheme, such as \"https://app.example.com/oauth/client.json\"",
        ));
    };
    if url.contains('#') {
        return Err(invalid("it must not contain a fragment (`#...`)"));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(invalid("it must not contain a user name or password"));
    }

    let path = path_and_query.split('?').next().unwrap_or("");
    if path.is_empty() || path == "/" {
        return Err(invalid(
            "it must have a path, such as \"https://app.example.com/oauth/client.json\"",
        ));
    }
    // A percent-encoded dot (`%2E`) is a dot to servers that decode paths.
    if path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    }) {
        return Err(invalid("its path must not contain `.` or `..` segments"));
    }

    let uri: http::Uri = url
        .parse()
        .map_err(|err| invalid(&format!("it is not a valid URL: {err}")))?;
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("it has no host"))?
        .to_ascii_lowercase();
    if !host_approved(&host, approved_domains) {
        return Err(CimdError::DomainNotApproved {
            url: url.to_owned(),
            host,
        });
    }
    Ok(())
}

/// Returns whether `host` equals an approved domain or is under one.
fn host_approved(host: &str, approved_domains: &[String]) -> bool {
    let host = host.trim_end_matches('.');
    let is_address = host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok();
    approved_domains.iter().any(|domain| {
        let domain = domain.trim().trim_end_matches('.');
        if domain.is_empty() {
            false
        } else if is_address {
            host.eq_ignore_ascii_case(domain)
        } else {
            host_in_domain(host, domain)
        }
    })
}

/// Returns whether a `Content-Type` value is JSON: `application/json` or an
/// `application/*+json` type, with any parameters.
fn is_json_media_type(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Validates a document fetched from `url` against an MCP server's rules
/// and returns its client.
///
/// The document's `client_id` must equal `url` exactly, as the draft
/// requires, and it must not contain `client_secret` or
/// `client_secret_expires_at`. Its `token_endpoint_auth_method` must be
/// `none` or left out: the draft forbids shared-secret methods, and the
/// authorization-server metadata of an MCP server advertises no
/// `private_key_jwt`. The remaining metadata goes through the same checks
/// as a dynamic registration ([`validate_client_metadata`]), with the
/// server's approved scopes and callback URLs.
///
/// # Errors
///
/// [`CimdError::InvalidDocument`] naming every invalid field.
pub fn validate_document(
    url: &str,
    document: &Map<String, Value>,
    policy: MetadataPolicy<'_>,
    fetched: u64,
) -> Result<CimdClient, CimdError> {
    let invalid = |reason: String| CimdError::InvalidDocument {
        url: url.to_owned(),
        reason,
    };
    match document.get("client_id") {
        Some(Value::String(client_id)) if client_id == url => {}
        Some(Value::String(client_id)) => {
            return Err(invalid(format!(
                "its `client_id` {client_id:?} differs from the URL it was fetched from; they must be equal, \
                 character for character"
            )));
        }
        Some(_) => return Err(invalid("`client_id` is not a string".to_owned())),
        None => {
            return Err(invalid(
                "`client_id` is missing; set it to the document's URL".to_owned(),
            ));
        }
    }
    for field in ["client_secret", "client_secret_expires_at"] {
        if document.contains_key(field) {
            return Err(invalid(format!(
                "it contains `{field}`; a published document must not carry a client secret"
            )));
        }
    }
    match document.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => {}
        Some(Value::String(method)) if method == "none" => {}
        Some(other) => {
            return Err(invalid(format!(
                "`token_endpoint_auth_method` {other} is not supported; use \"none\" or leave it out, \
                 because clients with a metadata document are public clients here"
            )));
        }
    }

    // RFC 7591 defaults a missing method to `client_secret_basic`, but a
    // metadata document cannot carry a secret, so its default is `none`.
    let mut fields = document.clone();
    fields.insert("token_endpoint_auth_method".to_owned(), Value::from("none"));
    let metadata = validate_client_metadata(&Value::Object(fields), policy)
        .map_err(|err| invalid(err.description))?;
    Ok(CimdClient {
        client_id: url.to_owned(),
        metadata,
        fetched,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Digests of the last document fetched per key, at most `capacity` of
/// them; the oldest key is forgotten first.
#[derive(Debug)]
struct SeenDocuments {
    digests: HashMap<CacheKey, [u8; 32]>,
    order: VecDeque<CacheKey>,
    capacity: usize,
}

impl SeenDocuments {
    fn new(capacity: usize) -> Self {
        Self {
            digests: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records the digest of `key`'s document and returns whether it differs
    /// from the last one recorded, or none was.
    fn record(&mut self, key: &CacheKey, digest: [u8; 32]) -> bool {
        match self.digests.insert(key.clone(), digest) {
            Some(previous) => previous != digest,
            None => {
                self.order.push_back(key.clone());
                if self.order.len() > self.capacity
                    && let Some(oldest) = self.order.pop_front()
                {
                    self.digests.remove(&oldest);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn approved() -> Vec<String> {
        vec!["example.com".to_owned()]
    }

    fn reason(result: Result<(), CimdError>) -> String {
        result.expect_err("the URL is rejected").to_string()
    }

    #[test]
    fn url_accepted_under_approved_domain() {
        assert_eq!(check_client_id_url(URL, &approved()), Ok(()));
        assert_eq!(
            check_client_id_url("https://example.com/client", &approved()),
            Ok(())
        );
        assert_eq!(
            check_client_id_url("https://EXAMPLE.com:8443/c?v=1", &approved()),
            Ok(())
        );
        assert_eq!(
            check_client_id_url("https://a.b.example.com./c", &["Example.COM.".to_owned()]),
            Ok(())
        );
    }

    #[test]
    fn url_rules_each_rejected() {
        let cases = [
            ("http://app.example.com/client.json", "https scheme"),
            ("https://app.example.com", "must have a path"),
            ("https://app.example.com/", "must have a path"),
            ("https://app.example.com/client.json#frag", "fragment"),
            (
                "https://user:pw@app.example.com/client.json",
                "user name or password",
            ),
            (
                "https://user@app.example.com/client.json",
                "user name or password",
            ),
            ("https://app.example.com/a/../client.json", "`..` segments"),
            ("https://app.example.com/./client.json", "`..` segments"),
            (
                "https://app.example.com/%2E%2E/client.json",
                "`..` segments",
            ),
            ("https://app.example.com/.%2e/client.json", "`..` segments"),
            ("https://app.example.com/has space", "not a valid URL"),
        ];
        for (url, expected) in cases {
            let message = reason(check_client_id_url(url, &approved()));
            assert!(message.contains(expected), "{url}: {message}");
            assert!(
                message.contains(url),
                "{url}: the message names the URL: {message}"
            );
        }
    }

    #[test]
    fn unapproved_hosts_rejected() {
        for url in [
            "https://badexample.com/client.json",
            "https://example.com.evil.test/client.json",
            "https://127.0.0.1/client.json",
        ] {
            let err = check_client_id_url(url, &approved()).expect_err("not approved");
            assert!(
                matches!(err, CimdError::DomainNotApproved { .. }),
                "{url}: {err}"
            );
        }
        let err = check_client_id_url(URL, &[]).expect_err("no approved domains");
        assert!(err.to_string().contains("approvedCimdDomains"), "{err}");
    }

    #[test]
    fn address_host_needs_exact_entry() {
        assert_eq!(
            check_client_id_url("https://127.0.0.1/c", &["127.0.0.1".to_owned()]),
            Ok(())
        );
        assert!(check_client_id_url("https://10.0.0.1/c", &["0.0.1".to_owned()]).is_err());
    }

    fn document() -> Map<String, Value> {
        let Value::Object(fields) = json!({
            "client_id": URL,
            "client_name": "Example MCP client",
            "redirect_uris": ["https://app.example.com/callback", "http://127.0.0.1:33418/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "files:read",
            "token_endpoint_auth_method": "none"
        }) else {
            unreachable!("a JSON object literal")
        };
        fields
    }

    fn with(field: &str, value: Value) -> Map<String, Value> {
        let mut document = document();
        document.insert(field.to_owned(), value);
        document
    }

    const OPEN: MetadataPolicy<'static> = MetadataPolicy {
        approved_scopes: &[],
        approved_callback_urls: &[],
    };

    fn invalid_reason(document: &Map<String, Value>, policy: MetadataPolicy<'_>) -> String {
        let err =
            validate_document(URL, document, policy, 0).expect_err("the document is rejected");
        assert!(matches!(err, CimdError::InvalidDocument { .. }), "{err}");
        assert!(
            err.to_string().contains(URL),
            "the message names the URL: {err}"
        );
        err.to_string()
    }

    #[test]
    fn valid_document_becomes_client() {
        let client = validate_document(URL, &document(), OPEN, 7).expect("valid document");
        assert_eq!(client.client_id, URL);
        assert_eq!(client.metadata.redirect_uris.len(), 2);
        assert_eq!(client.metadata.token_endpoint_auth_method, "none");
        assert_eq!(
            client.metadata.client_name.as_deref(),
            Some("Example MCP client")
        );
        assert_eq!(client.fetched, 7);
    }

    #[test]
    fn missing_auth_method_means_none() {
        let mut document = document();
        document.remove("token_endpoint_auth_method");
        let client = validate_document(URL, &document, OPEN, 0).expect("valid document");
        assert_eq!(client.metadata.token_endpoint_auth_method, "none");
        assert!(!client.metadata.is_confidential());
    }

    #[test]
    fn client_id_must_equal_url() {
        let message = invalid_reason(&with("client_id", json!(format!("{URL}/"))), OPEN);
        assert!(message.contains("differs from the URL"), "{message}");
        let mut missing = document();
        missing.remove("client_id");
        assert!(invalid_reason(&missing, OPEN).contains("`client_id` is missing"));
    }

    #[test]
    fn secrets_and_other_auth_methods_rejected() {
        assert!(
            invalid_reason(&with("client_secret", json!("s3cret")), OPEN)
                .contains("`client_secret`")
        );
        assert!(
            invalid_reason(&with("client_secret_expires_at", json!(0)), OPEN)
                .contains("client_secret_expires_at")
        );
        for method in ["client_secret_basic", "private_key_jwt"] {
            let message = invalid_reason(&with("token_endpoint_auth_method", json!(method)), OPEN);
            assert!(message.contains(method), "{message}");
        }
    }

    #[test]
    fn redirect_uris_checked_like_registration() {
        let message = invalid_reason(
            &with("redirect_uris", json!(["http://app.example.com/callback"])),
            OPEN,
        );
        assert!(
            message.contains("http://app.example.com/callback"),
            "{message}"
        );
        let mut missing = document();
        missing.remove("redirect_uris");
        assert!(invalid_reason(&missing, OPEN).contains("`redirect_uris` is missing"));
    }

    #[test]
    fn server_policy_applies() {
        let callbacks = vec!["https://app.example.com/callback".to_owned()];
        let scopes = vec!["files:read".to_owned()];
        let strict = MetadataPolicy {
            approved_scopes: &scopes,
            approved_callback_urls: &callbacks,
        };
        let message = invalid_reason(&document(), strict);
        assert!(
            message.contains("http://127.0.0.1:33418/callback"),
            "{message}"
        );
        assert!(message.contains("approved callback URLs"), "{message}");

        let one_callback = with("redirect_uris", json!(["https://app.example.com/callback"]));
        assert!(validate_document(URL, &one_callback, strict, 0).is_ok());
        let mut other_scope = one_callback.clone();
        other_scope.insert("scope".to_owned(), json!("files:write"));
        assert!(invalid_reason(&other_scope, strict).contains("files:write"));
    }

    #[test]
    fn grant_types_checked_like_registration() {
        let message = invalid_reason(&with("grant_types", json!(["client_credentials"])), OPEN);
        assert!(message.contains("client_credentials"), "{message}");
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/oauth-client+json"));
        assert!(!is_json_media_type("text/html"));
        assert!(!is_json_media_type(""));
    }

    #[test]
    fn metadata_url_detection() {
        assert!(is_metadata_document_url(URL));
        assert!(is_metadata_document_url("http://app.example.com/c"));
        assert!(!is_metadata_document_url("c_2b1f9e"));
    }

    #[test]
    fn seen_documents_tell_new_from_refetched() {
        let mut seen = SeenDocuments::new(1);
        let first = ("p".to_owned(), "s".to_owned(), "a".to_owned());
        let second = ("p".to_owned(), "s".to_owned(), "b".to_owned());
        assert!(seen.record(&first, [1; 32]));
        assert!(!seen.record(&first, [1; 32]));
        assert!(
            seen.record(&first, [2; 32]),
            "changed content counts as new"
        );
        assert!(seen.record(&second, [1; 32]));
        assert!(
            seen.record(&first, [2; 32]),
            "the oldest key was forgotten at capacity"
        );
    }
}
