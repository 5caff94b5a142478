//! Client ID Metadata Documents resolved from an HTTPS server on loopback.
//!
//! Each test starts its own TLS server on 127.0.0.1 with a certificate for
//! `localhost` issued by a CA the test generates. The resolver trusts that CA
//! the way an operator's `egress_extra_ca_file` is trusted. The egress
//! policy allows loopback the way `egress_allowed_private` does. Nothing
//! else is relaxed for tests.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use sluice::api::ApiSettings;
use sluice::engine::{EgressClient, EgressPolicy, read_ca_file};
use sluice::model::AuditQuery;
use sluice::oauth::MetadataPolicy;
use sluice::oauth::cimd::{
    CimdClient, CimdError, CimdResolver, CimdSettings, ResolutionEvent, ServerCimdPolicy,
};
use sluice::oauth::cimd_cache::CacheBounds;
use sluice::oauth::metadata::authorization_server_metadata;
use sluice::oauth::{McpServer, RegisteredClient, Verification, validate_client_metadata};
use sluice::store::{Actor, IdentityStore as _, OAuthStore as _};
use tower::ServiceExt as _;

use common::app::{PROJECT, TestApp};

/// One canned response of the test server.
#[derive(Clone)]
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    cache_control: Option<&'static str>,
    location: Option<String>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(body: &Value) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "application/json",
            cache_control: None,
            location: None,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    fn cache_control(mut self, value: &'static str) -> Self {
        self.cache_control = Some(value);
        self
    }
}

/// The replies by path and the number of requests per path.
#[derive(Default)]
struct Site {
    replies: Mutex<HashMap<String, Reply>>,
    requests: Mutex<HashMap<String, Arc<AtomicUsize>>>,
}

impl Site {
    fn set(&self, path: &str, reply: Reply) {
        self.replies
            .lock()
            .expect("replies")
            .insert(path.to_owned(), reply);
    }

    fn requests(&self, path: &str) -> usize {
        self.counter(path).load(Ordering::SeqCst)
    }

    fn counter(&self, path: &str) -> Arc<AtomicUsize> {
        Arc::clone(
            self.requests
                .lock()
                .expect("counters")
                .entry(path.to_owned())
                .or_default(),
        )
    }
}

async fn serve_document(
    State(site): State<Arc<Site>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    site.counter(&path).fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        headers.get(header::ACCEPT).map(HeaderValue::as_bytes),
        Some(&b"application/json"[..]),
        "the resolver asks for JSON"
    );
    let reply = site.replies.lock().expect("replies").get(&path).cloned();
    let Some(reply) = reply else {
        return StatusCode::NOT_FOUND.into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (reply.status, reply.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if let Some(value) = reply.cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    if let Some(location) = reply.location {
        response.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("location"),
        );
    }
    response
}

/// A test CA and an HTTPS server on loopback with a certificate it issued.
struct Fixture {
    site: Arc<Site>,
    port: u16,
    ca_pem: String,
}

impl Fixture {
    fn start() -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Sluice test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let leaf_key = rcgen::KeyPair::generate().expect("server key");
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca)
            .expect("server certificate");

        let site = Arc::new(Site::default());
        let app = Router::new()
            .route("/{*path}", axum::routing::get(serve_document))
            .with_state(Arc::clone(&site));
        let port = serve_https_on_loopback(
            app,
            leaf.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        );
        Self {
            site,
            port,
            ca_pem: ca.pem(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}/{path}", self.port)
    }

    /// Serves a valid document for `path`, whose `client_id` is its URL.
    fn document(&self, path: &str) -> Value {
        json!({
            "client_id": self.url(path),
            "client_name": "Loopback MCP client",
            "redirect_uris": ["http://127.0.0.1:33418/callback", "https://app.example.com/callback"],
            "token_endpoint_auth_method": "none"
        })
    }

    fn client(&self, timeout: Duration) -> EgressClient {
        let folder = tempfile::tempdir().expect("temporary folder");
        let ca_file = folder.path().join("ca.pem");
        std::fs::write(&ca_file, &self.ca_pem).expect("write the CA file");
        let policy = EgressPolicy {
            allowed_private: vec![
                "127.0.0.0/8".parse().expect("network"),
                "::1/128".parse().expect("network"),
            ],
            timeout,
            ..EgressPolicy::default()
        };
        EgressClient::new(policy, read_ca_file(&ca_file).expect("CA file")).expect("egress client")
    }

    fn resolver(&self) -> CimdResolver {
        CimdResolver::new(self.client(Duration::from_secs(5)), CimdSettings::default())
    }
}

/// Serves `app` over TLS on a free port of 127.0.0.1 from a thread of its
/// own and returns the port. The server runs until the test process exits.
fn serve_https_on_loopback(
    app: Router,
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (ready, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("test server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a loopback port");
            ready
                .send(listener.local_addr().expect("local address").port())
                .expect("send the port");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            app.clone().oneshot(request.map(axum::body::Body::new))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    port.recv().expect("test server port")
}

fn localhost() -> Vec<String> {
    vec!["localhost".to_owned()]
}

/// Approves no particular scopes or callback URLs, so any that pass the
/// registration rules are accepted.
const ANY_METADATA: MetadataPolicy<'static> = MetadataPolicy {
    approved_scopes: &[],
    approved_callback_urls: &[],
};

fn on(domains: &[String]) -> ServerCimdPolicy<'_> {
    ServerCimdPolicy {
        enabled: true,
        approved_domains: domains,
        metadata: ANY_METADATA,
    }
}

async fn resolve(resolver: &CimdResolver, url: &str) -> Result<CimdClient, CimdError> {
    resolver
        .resolve("p1", "docs-server", url, on(&localhost()))
        .await
}

#[tokio::test]
async fn valid_document_resolves() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let url = fixture.url("client.json");

    let client = resolve(&fixture.resolver(), &url)
        .await
        .expect("the document resolves");

    assert_eq!(client.client_id, url);
    assert_eq!(
        client.metadata.client_name.as_deref(),
        Some("Loopback MCP client")
    );
    assert_eq!(client.metadata.redirect_uris.len(), 2);
    assert_eq!(client.metadata.token_endpoint_auth_method, "none");
    assert_eq!(client.metadata.grant_types, ["authorization_code"]);
    assert_eq!(fixture.site.requests("client.json"), 1);
}

#[tokio::test]
async fn client_id_mismatch_rejected() {
    let fixture = Fixture::start();
    let mut document = fixture.document("client.json");
    document["client_id"] = json!(fixture.url("other.json"));
    fixture.site.set("client.json", Reply::json(&document));

    let err = resolve(&fixture.resolver(), &fixture.url("client.json"))
        .await
        .expect_err("mismatch");

    assert!(matches!(err, CimdError::InvalidDocument { .. }), "{err}");
    assert!(err.to_string().contains("differs from the URL"), "{err}");
}

#[tokio::test]
async fn unapproved_domain_not_fetched() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let approved = vec!["example.com".to_owned()];

    let err = fixture
        .resolver()
        .resolve(
            "p1",
            "docs-server",
            &fixture.url("client.json"),
            on(&approved),
        )
        .await
        .expect_err("not approved");

    assert!(matches!(err, CimdError::DomainNotApproved { .. }), "{err}");
    assert_eq!(fixture.site.requests("client.json"), 0);
}

#[tokio::test]
async fn turned_off_server_rejects() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let domains = localhost();
    let off = ServerCimdPolicy {
        enabled: false,
        approved_domains: &domains,
        metadata: ANY_METADATA,
    };

    let err = fixture
        .resolver()
        .resolve("p1", "docs-server", &fixture.url("client.json"), off)
        .await
        .expect_err("turned off");

    assert!(matches!(err, CimdError::Disabled { .. }), "{err}");
    assert!(
        err.to_string().contains("clientIdMetadataDocuments"),
        "{err}"
    );
    assert_eq!(fixture.site.requests("client.json"), 0);
}

#[tokio::test]
async fn invalid_urls_not_fetched() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let resolver = fixture.resolver();
    let port = fixture.port;
    let cases = [
        (
            format!("http://localhost:{port}/client.json"),
            "https scheme",
        ),
        (
            format!("https://localhost:{port}/client.json#top"),
            "fragment",
        ),
        (
            format!("https://ada@localhost:{port}/client.json"),
            "user name or password",
        ),
        (format!("https://localhost:{port}/"), "must have a path"),
    ];
    for (url, expected) in cases {
        let err = resolve(&resolver, &url).await.expect_err("invalid URL");
        assert!(matches!(err, CimdError::InvalidUrl { .. }), "{url}: {err}");
        assert!(err.to_string().contains(expected), "{url}: {err}");
    }
    assert_eq!(fixture.site.requests("client.json"), 0);
}

#[tokio::test]
async fn invalid_redirect_uri_rejected() {
    let fixture = Fixture::start();
    let mut document = fixture.document("client.json");
    document["redirect_uris"] = json!(["http://app.example.com/callback"]);
    fixture.site.set("client.json", Reply::json(&document));

    let err = resolve(&fixture.resolver(), &fixture.url("client.json"))
        .await
        .expect_err("invalid redirect");

    assert!(matches!(err, CimdError::InvalidDocument { .. }), "{err}");
    assert!(
        err.to_string().contains("http://app.example.com/callback"),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_document_rejected() {
    let fixture = Fixture::start();
    let mut document = fixture.document("client.json");
    document["client_name"] = json!("x".repeat(6 * 1024));
    fixture.site.set("client.json", Reply::json(&document));

    let err = resolve(&fixture.resolver(), &fixture.url("client.json"))
        .await
        .expect_err("too large");

    assert!(matches!(err, CimdError::FetchFailed { .. }), "{err}");
    assert!(err.to_string().contains("larger than 5120 bytes"), "{err}");
}

#[tokio::test]
async fn non_json_responses_rejected() {
    let fixture = Fixture::start();
    let mut html = Reply::json(&fixture.document("page.json"));
    html.content_type = "text/html";
    fixture.site.set("page.json", html);
    let mut broken = Reply::json(&json!({}));
    broken.body = "{\"client_id\": ".to_owned();
    fixture.site.set("broken.json", broken);
    let resolver = fixture.resolver();

    let err = resolve(&resolver, &fixture.url("page.json"))
        .await
        .expect_err("HTML");
    assert!(
        err.to_string().contains("content type is \"text/html\""),
        "{err}"
    );

    let err = resolve(&resolver, &fixture.url("broken.json"))
        .await
        .expect_err("broken JSON");
    assert!(matches!(err, CimdError::InvalidDocument { .. }), "{err}");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[tokio::test]
async fn missing_document_rejected_and_cached_briefly() {
    let fixture = Fixture::start();
    let resolver = fixture.resolver();
    let url = fixture.url("missing.json");

    let err = resolve(&resolver, &url).await.expect_err("404");
    assert!(err.to_string().contains("404"), "{err}");
    assert!(err.to_string().contains(&url), "{err}");

    let again = resolve(&resolver, &url).await.expect_err("still 404");
    assert_eq!(again, err);
    assert_eq!(
        fixture.site.requests("missing.json"),
        1,
        "the failure is cached"
    );
}

#[tokio::test]
async fn redirect_not_followed() {
    let fixture = Fixture::start();
    fixture.site.set(
        "moved.json",
        Reply {
            status: StatusCode::FOUND,
            location: Some(fixture.url("client.json")),
            body: String::new(),
            ..Reply::json(&json!({}))
        },
    );
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("moved.json")));

    let err = resolve(&fixture.resolver(), &fixture.url("moved.json"))
        .await
        .expect_err("redirect");

    assert!(
        err.to_string().contains("redirect, which is not followed"),
        "{err}"
    );
    assert_eq!(fixture.site.requests("client.json"), 0);
}

#[tokio::test]
async fn slow_server_times_out() {
    let fixture = Fixture::start();
    let mut slow = Reply::json(&fixture.document("slow.json"));
    slow.delay = Duration::from_secs(5);
    fixture.site.set("slow.json", slow);
    let resolver = CimdResolver::new(
        fixture.client(Duration::from_millis(300)),
        CimdSettings::default(),
    );

    let err = resolve(&resolver, &fixture.url("slow.json"))
        .await
        .expect_err("timeout");

    assert!(err.to_string().contains("timed out after 300 ms"), "{err}");
}

#[tokio::test]
async fn private_address_denied_by_egress_policy() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let client = EgressClient::new(EgressPolicy::default(), Vec::new()).expect("egress client");
    let resolver = CimdResolver::new(client, CimdSettings::default());

    let err = resolve(&resolver, &fixture.url("client.json"))
        .await
        .expect_err("denied");

    assert!(err.to_string().contains("egress_allowed_private"), "{err}");
    assert_eq!(fixture.site.requests("client.json"), 0);
}

#[tokio::test]
async fn untrusted_certificate_rejected() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let policy = EgressPolicy {
        allowed_private: vec![
            "127.0.0.0/8".parse().expect("network"),
            "::1/128".parse().expect("network"),
        ],
        ..EgressPolicy::default()
    };
    let client = EgressClient::new(policy, Vec::new()).expect("egress client");
    let resolver = CimdResolver::new(client, CimdSettings::default());

    let err = resolve(&resolver, &fixture.url("client.json"))
        .await
        .expect_err("untrusted");

    assert!(err.to_string().contains("TLS handshake"), "{err}");
}

#[tokio::test]
async fn fresh_document_not_refetched() {
    let fixture = Fixture::start();
    fixture.site.set(
        "client.json",
        Reply::json(&fixture.document("client.json")).cache_control("public, max-age=600"),
    );
    let resolver = fixture.resolver();
    let url = fixture.url("client.json");

    let first = resolve(&resolver, &url).await.expect("first");
    let second = resolve(&resolver, &url).await.expect("second");

    assert_eq!(first, second);
    assert_eq!(fixture.site.requests("client.json"), 1);

    let other_server = resolver
        .resolve("p1", "another-server", &url, on(&localhost()))
        .await
        .expect("other server");
    assert_eq!(other_server.client_id, url);
    assert_eq!(
        fixture.site.requests("client.json"),
        2,
        "the cache is per MCP server"
    );
}

#[tokio::test]
async fn no_store_refetched() {
    let fixture = Fixture::start();
    fixture.site.set(
        "client.json",
        Reply::json(&fixture.document("client.json")).cache_control("no-store"),
    );
    let resolver = fixture.resolver();
    let url = fixture.url("client.json");

    resolve(&resolver, &url).await.expect("first");
    resolve(&resolver, &url).await.expect("second");

    assert_eq!(fixture.site.requests("client.json"), 2);
}

#[tokio::test]
async fn expired_document_refetched() {
    let fixture = Fixture::start();
    fixture.site.set(
        "client.json",
        Reply::json(&fixture.document("client.json")).cache_control("max-age=1"),
    );
    let settings = CimdSettings {
        cache: CacheBounds {
            min_ttl: Duration::ZERO,
            ..CimdSettings::default().cache
        },
        ..CimdSettings::default()
    };
    let resolver = CimdResolver::new(fixture.client(Duration::from_secs(5)), settings);
    let url = fixture.url("client.json");

    resolve(&resolver, &url).await.expect("first");
    for _ in 0..100 {
        if fixture.site.requests("client.json") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        resolve(&resolver, &url).await.expect("later");
    }

    assert_eq!(
        fixture.site.requests("client.json"),
        2,
        "one refetch after max-age ran out"
    );
}

#[tokio::test]
async fn concurrent_resolutions_share_fetch() {
    let fixture = Fixture::start();
    let mut slow = Reply::json(&fixture.document("client.json")).cache_control("no-store");
    slow.delay = Duration::from_millis(300);
    fixture.site.set("client.json", slow);
    let resolver = fixture.resolver();
    let url = fixture.url("client.json");

    let results = futures_join(&resolver, &url).await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fixture.site.requests("client.json"), 1);
}

/// Starts five resolutions of `url` at once and waits for all of them.
async fn futures_join(resolver: &CimdResolver, url: &str) -> Vec<Result<CimdClient, CimdError>> {
    let (a, b, c, d, e) = tokio::join!(
        resolve(resolver, url),
        resolve(resolver, url),
        resolve(resolver, url),
        resolve(resolver, url),
        resolve(resolver, url)
    );
    vec![a, b, c, d, e]
}

#[tokio::test]
async fn observer_sees_fetches_only() {
    let fixture = Fixture::start();
    fixture.site.set(
        "client.json",
        Reply::json(&fixture.document("client.json")).cache_control("no-store"),
    );
    fixture.site.set(
        "cached.json",
        Reply::json(&fixture.document("cached.json")).cache_control("max-age=600"),
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let resolver = fixture.resolver().with_observer(Arc::new(move |event| {
        sink.lock().expect("events").push(event)
    }));

    resolve(&resolver, &fixture.url("client.json"))
        .await
        .expect("first");
    resolve(&resolver, &fixture.url("client.json"))
        .await
        .expect("refetch");
    resolve(&resolver, &fixture.url("cached.json"))
        .await
        .expect("cached first");
    resolve(&resolver, &fixture.url("cached.json"))
        .await
        .expect("cache hit");
    resolve(&resolver, &fixture.url("absent.json"))
        .await
        .expect_err("404");

    let events = events.lock().expect("events").clone();
    let new_documents: Vec<bool> = events
        .iter()
        .filter_map(|event| match event {
            ResolutionEvent::Resolved { new_document, .. } => Some(*new_document),
            ResolutionEvent::Failed { .. } => None,
        })
        .collect();
    assert_eq!(new_documents, [true, false, true], "{events:?}");
    let failures = events
        .iter()
        .filter(|event| matches!(event, ResolutionEvent::Failed { client_id, .. } if client_id.ends_with("absent.json")))
        .count();
    assert_eq!(failures, 1, "{events:?}");
}

/// Creates the MCP server `docs` with metadata documents from `localhost`
/// turned on or off, and makes the app resolve through the fixture's CA.
async fn app_with_server(fixture: &Fixture, documents: bool) -> TestApp {
    let app = TestApp::new(ApiSettings::default());
    app.state.set_cimd_resolver(CimdResolver::new(
        fixture.client(Duration::from_secs(5)),
        CimdSettings::default(),
    ));
    let server = json!({
        "id": "docs",
        "name": "Docs MCP",
        "registration": {
            "dynamicClientRegistration": true,
            "clientIdMetadataDocuments": documents,
            "approvedCimdDomains": ["localhost"]
        }
    });
    let (status, created) = app.post("/v1/mgmt/mcp/server/create", server).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    app
}

/// Returns the metadata document audit events of the first project as
/// (action, actor id), newest first, once at least `count` were recorded.
/// The resolver records them in the background.
async fn audit_actions(app: &TestApp, count: usize) -> Vec<(String, String)> {
    for _ in 0..200 {
        let (events, _) = app
            .backend
            .search_audit(PROJECT, &AuditQuery::default())
            .expect("audit search");
        let actions: Vec<(String, String)> = events
            .iter()
            .filter(|event| event.action.starts_with("McpClientMetadata"))
            .map(|event| (event.action.clone(), event.actor_id.clone()))
            .collect();
        if actions.len() >= count {
            return actions;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {count} Client ID Metadata Document audit events were recorded");
}

#[tokio::test]
async fn resolve_call_returns_document_client() {
    let fixture = Fixture::start();
    fixture.site.set(
        "client.json",
        Reply::json(&fixture.document("client.json")).cache_control("max-age=600"),
    );
    let app = app_with_server(&fixture, true).await;
    let url = fixture.url("client.json");
    let body = json!({ "serverId": "docs", "clientId": url });

    let (status, first) = app.post("/v1/mgmt/mcp/client/resolve", body.clone()).await;
    let (again_status, again) = app.post("/v1/mgmt/mcp/client/resolve", body).await;

    assert_eq!(status, StatusCode::OK, "{first}");
    let client = &first["client"];
    assert_eq!(client["clientId"], url);
    assert_eq!(client["serverId"], "docs");
    assert_eq!(client["source"], "metadataDocument");
    assert_eq!(client["verification"], "verified");
    assert_eq!(client["confidential"], false);
    assert_eq!(client["clientName"], "Loopback MCP client");
    assert_eq!(
        client["metadata"]["redirect_uris"][0],
        "http://127.0.0.1:33418/callback"
    );
    assert_eq!(again_status, StatusCode::OK, "{again}");
    assert_eq!(again["client"]["fetched"], client["fetched"]);
    assert_eq!(fixture.site.requests("client.json"), 1);

    let actions = audit_actions(&app, 1).await;
    assert_eq!(
        actions,
        [(
            "McpClientMetadataResolved".to_owned(),
            "mcp:docs".to_owned()
        )]
    );
}

#[tokio::test]
async fn resolve_call_rejects_when_off() {
    let fixture = Fixture::start();
    fixture
        .site
        .set("client.json", Reply::json(&fixture.document("client.json")));
    let app = app_with_server(&fixture, false).await;

    let (status, body) = app
        .post(
            "/v1/mgmt/mcp/client/resolve",
            json!({ "serverId": "docs", "clientId": fixture.url("client.json") }),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("clientIdMetadataDocuments"), "{body}");
    assert!(message.contains(&fixture.url("client.json")), "{body}");
    assert_eq!(fixture.site.requests("client.json"), 0);
}

#[tokio::test]
async fn resolve_call_records_failure() {
    let fixture = Fixture::start();
    let app = app_with_server(&fixture, true).await;

    let (status, body) = app
        .post(
            "/v1/mgmt/mcp/client/resolve",
            json!({ "serverId": "docs", "clientId": fixture.url("absent.json") }),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("404"),
        "{body}"
    );
    let actions = audit_actions(&app, 1).await;
    assert_eq!(
        actions,
        [(
            "McpClientMetadataRejected".to_owned(),
            "mcp:docs".to_owned()
        )]
    );
}

#[tokio::test]
async fn resolve_call_finds_registered_client() {
    let fixture = Fixture::start();
    let app = app_with_server(&fixture, true).await;
    let metadata = validate_client_metadata(
        &json!({ "redirect_uris": ["https://agent.example.com/cb"], "token_endpoint_auth_method": "none" }),
        ANY_METADATA,
    )
    .expect("valid metadata");
    let client = RegisteredClient {
        client_id: "c_registered".to_owned(),
        server_id: "docs".to_owned(),
        metadata,
        verification: Verification::Unverified,
        client_secret_hash: None,
        registration_token_hash: "00".repeat(32),
        issued_at: 1,
        updated: 1,
    };
    let event = client.event(
        "McpClientRegistered",
        &Actor::new("test"),
        serde_json::Map::new(),
    );
    app.backend
        .insert_mcp_client(PROJECT, &client, event)
        .expect("client is stored");

    let (status, body) = app
        .post(
            "/v1/mgmt/mcp/client/resolve",
            json!({ "serverId": "docs", "clientId": "c_registered" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["client"]["source"], "registration");
    assert_eq!(body["client"]["verification"], "unverified");

    let (status, body) = app
        .post(
            "/v1/mgmt/mcp/client/resolve",
            json!({ "serverId": "docs", "clientId": "c_unknown" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = app
        .post(
            "/v1/mgmt/mcp/client/resolve",
            json!({ "serverId": "nope", "clientId": "c_registered" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = app
        .post("/v1/mgmt/mcp/client/resolve", json!({ "serverId": "docs" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("clientId"),
        "{body}"
    );
}

#[test]
fn metadata_advertises_documents_when_on() {
    for documents in [true, false] {
        let server: McpServer = serde_json::from_value(json!({
            "id": "docs",
            "name": "Docs MCP",
            "registration": { "clientIdMetadataDocuments": documents, "approvedCimdDomains": ["localhost"] }
        }))
        .expect("server record");

        let metadata =
            authorization_server_metadata(&server, "https://sluice.example.com/oauth/P1/docs");

        let advertised = metadata.get("client_id_metadata_document_supported");
        if documents {
            assert_eq!(advertised, Some(&json!(true)), "{metadata}");
        } else {
            assert_eq!(advertised, None, "{metadata}");
        }
    }
}
