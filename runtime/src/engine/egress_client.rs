//! Requests the host makes itself, such as fetching a Client ID Metadata
//! Document, under the connectors' egress policy: the same private-address
//! rule, timeout and response-size cap.
//!
//! Unlike a connector request, the address checked against the policy is the
//! address connected to, so a DNS answer that changes between the check and
//! the connection is caught. The client trusts the Mozilla roots bundled by
//! `webpki-roots` plus any certificates the operator adds with
//! `egress_extra_ca_file`. Redirects are returned, never followed.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::egress::{EgressPolicy, resolve_host};

/// Value of the `User-Agent` header of host requests.
const USER_AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// Error of a host request. The messages leave out the URL, which the
/// caller adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The URL cannot be requested.
    #[error("the URL is invalid: {0}")]
    InvalidUrl(String),
    /// The policy forbids the destination.
    #[error("{0}")]
    Denied(String),
    /// The name did not resolve, or no connection or TLS session could be
    /// set up, or the server broke the exchange.
    #[error("{0}")]
    Failed(String),
    /// A step took longer than the policy's timeout, in milliseconds.
    #[error("the request timed out after {0} ms")]
    TimedOut(u64),
    /// The response body is larger than the limit, in bytes.
    #[error("the response body is larger than {0} bytes")]
    TooLarge(u64),
}

/// A complete response to a host request.
#[derive(Debug, Clone)]
pub struct EgressResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// HTTP client for requests the host makes on its own behalf.
#[derive(Clone)]
pub struct EgressClient {
    policy: Arc<EgressPolicy>,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for EgressClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressClient")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl EgressClient {
    /// Creates a client that follows `policy` and trusts the bundled Mozilla
    /// roots plus `extra_roots`.
    ///
    /// # Errors
    ///
    /// Fails when an extra certificate is not a usable CA certificate.
    pub fn new(
        policy: EgressPolicy,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (index, certificate) in extra_roots.into_iter().enumerate() {
            roots.add(certificate).map_err(|err| {
                format!(
                    "extra CA certificate {} cannot be used as a trust anchor: {err}",
                    index + 1
                )
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("setting up TLS failed: {err}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            policy: Arc::new(policy),
            tls: Arc::new(tls),
        })
    }

    /// Returns the policy the client follows.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// Sends `GET url` with the given `Accept` header and returns the whole
    /// response, whatever its status.
    ///
    /// Resolving, connecting with the TLS handshake, waiting for the response
    /// head and reading the whole body each have the policy's timeout. The
    /// body may have at most `max_body_bytes` bytes, and never more than the
    /// policy's `max_response_bytes`.
    ///
    /// # Errors
    ///
    /// Returns the reason, without the URL, when the URL is not absolute
    /// http or https, the host resolves to an address the policy forbids, a
    /// step times out, the body is too large or the exchange fails.
    pub async fn get(
        &self,
        url: &str,
        accept: &str,
        max_body_bytes: u64,
    ) -> Result<EgressResponse, EgressError> {
        let uri: Uri = url
            .parse()
            .map_err(|err| EgressError::InvalidUrl(format!("{err}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(EgressError::InvalidUrl(
                    "use an absolute http or https URL".to_owned(),
                ));
            }
        };
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| EgressError::InvalidUrl("the URL has no host".to_owned()))?
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let timeout = self.policy.timeout;
        let max_body_bytes = max_body_bytes.min(self.policy.max_response_bytes);

        let addresses = with_timeout(timeout, resolve_host(&host, port))
            .await?
            .map_err(EgressError::Failed)?;
        if let Some(address) = addresses
            .iter()
            .find(|address| self.policy.forbids(**address))
        {
            tracing::warn!(target_host = %host, %address, "Host request to a private address denied");
            return Err(EgressError::Denied(format!(
                "{host} resolves to the private address {address}, which the host may not reach \
                 unless the operator lists it in `egress_allowed_private`"
            )));
        }
        let stream = connect(&addresses, port, timeout).await?;

        let host_header = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let request = Request::get(uri.path_and_query().map_or("/", |path| path.as_str()))
            .header(header::HOST, host_header)
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, USER_AGENT)
            .body(Empty::<Bytes>::new())
            .map_err(|err| EgressError::InvalidUrl(err.to_string()))?;

        if !https {
            return exchange(stream, request, timeout, max_body_bytes).await;
        }
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = ServerName::try_from(bare_host).map_err(|err| {
            EgressError::InvalidUrl(format!("{host} is not a valid TLS server name: {err}"))
        })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls));
        let tls_stream = with_timeout(timeout, connector.connect(server_name, stream))
            .await?
            .map_err(|err| {
                EgressError::Failed(format!("the TLS handshake with {host} failed: {err}"))
            })?;
        exchange(tls_stream, request, timeout, max_body_bytes).await
    }
}

/// Reads PEM certificates from a file, such as an internal CA's root, for
/// [`EgressClient::new`].
///
/// # Errors
///
/// Fails, naming the file, when it cannot be read, is not PEM or contains
/// no certificate.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("cannot read CA certificates from {}: {err}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{} contains no PEM certificate; write one or more `-----BEGIN CERTIFICATE-----` blocks",
            path.display()
        ));
    }
    Ok(certificates)
}

/// Runs `future` with the policy's timeout.
async fn with_timeout<T>(
    timeout: Duration,
    future: impl Future<Output = T>,
) -> Result<T, EgressError> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| EgressError::TimedOut(millis(timeout)))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Connects to the first of `addresses` that accepts a connection.
async fn connect(
    addresses: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, EgressError> {
    let mut last_error = EgressError::Failed("the host name resolved to no address".to_owned());
    for address in addresses {
        let socket = SocketAddr::new(*address, port);
        match with_timeout(timeout, TcpStream::connect(socket)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err)) => {
                last_error = EgressError::Failed(format!("connecting to {socket} failed: {err}"));
            }
            Err(timed_out) => last_error = timed_out,
        }
    }
    Err(last_error)
}

/// Sends `request` over a fresh HTTP/1.1 connection and reads the whole
/// response.
async fn exchange<S>(
    stream: S,
    request: Request<Empty<Bytes>>,
    timeout: Duration,
    max_body_bytes: u64,
) -> Result<EgressResponse, EgressError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = with_timeout(
        timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await?
    .map_err(|err| EgressError::Failed(format!("the HTTP handshake failed: {err}")))?;
    let connection = tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "Host request connection closed with an error");
        }
    });
    let result = async {
        let response = with_timeout(timeout, sender.send_request(request))
            .await?
            .map_err(|err| EgressError::Failed(format!("the request failed: {err}")))?;
        let (parts, body) = response.into_parts();
        let declared_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > max_body_bytes) {
            return Err(EgressError::TooLarge(max_body_bytes));
        }
        let limit = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
        let body = with_timeout(timeout, Limited::new(body, limit).collect())
            .await?
            .map_err(|err| {
                if err.downcast_ref::<LengthLimitError>().is_some() {
                    EgressError::TooLarge(max_body_bytes)
                } else {
                    EgressError::Failed(format!("reading the response body failed: {err}"))
                }
            })?
            .to_bytes();
        Ok(EgressResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
    .await;
    connection.abort();
    result
}
