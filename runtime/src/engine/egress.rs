//! The outbound HTTP policy of connector steps: deny by default, allow only
//! the origins bound to the step, never reach a private address unless the
//! operator allows it, and bound every request's time and response size.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt as _;
use ipnet::IpNet;
use wasmtime_wasi_http::{Error, RequestOptions, Result, WasiBody, WasiHttpHooks};

/// The operator's rules for connector requests, shared by every step.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Private, loopback and link-local networks that connectors may reach
    /// anyway, such as `127.0.0.1/32` for a receiver on the same machine.
    pub allowed_private: Vec<IpNet>,
    /// Maximum wait to connect, for the first response byte and between
    /// response bytes. A shorter timeout the component sets wins.
    pub timeout: Duration,
    /// Largest response body a component may receive, in bytes.
    pub max_response_bytes: u64,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allowed_private: Vec::new(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        }
    }
}

impl EgressPolicy {
    /// Returns whether the policy forbids `address`: a private address
    /// outside every network in `allowed_private`.
    pub fn forbids(&self, address: IpAddr) -> bool {
        is_private(address)
            && !self
                .allowed_private
                .iter()
                .any(|network| network.contains(&address))
    }
}

/// Returns whether an address is in a range that is not the public
/// internet: loopback, private, link-local (cloud metadata services live
/// there), shared, documentation, multicast or unspecified.
pub fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // 100.64.0.0/10, shared address space (carrier-grade NAT).
                || (a == 100 && (64..128).contains(&b))
                // 198.18.0.0/15, benchmarking.
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// [`WasiHttpHooks`] that let a request through only when its origin is on
/// the step's allow-list and it resolves to no forbidden address, and that
/// remember the first denial for the step error.
pub(crate) struct EgressHooks {
    allowed_origins: Vec<String>,
    injected_headers: Vec<(String, String)>,
    policy: Arc<EgressPolicy>,
    step_id: String,
    /// The first denial, shared with the request futures that check
    /// addresses after the hook has returned.
    denied: Arc<Mutex<Option<String>>>,
}

impl EgressHooks {
    pub(crate) fn new(
        allowed_origins: Vec<String>,
        injected_headers: Vec<(String, String)>,
        policy: Arc<EgressPolicy>,
        step_id: String,
    ) -> Self {
        Self {
            allowed_origins,
            injected_headers,
            policy,
            step_id,
            denied: Arc::new(Mutex::new(None)),
        }
    }

    /// Returns the first denial of the step, if any.
    pub(crate) fn denial(&self) -> Option<String> {
        self.denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn deny(
        &mut self,
        target: &str,
        reason: &str,
    ) -> Box<dyn Future<Output = Result<(WasiResponse, IoFuture)>> + Send> {
        tracing::warn!(step.id = %self.step_id, target = %target, reason = %reason, "Outbound request denied");
        record_denial(
            &self.denied,
            format!("outbound request to {target} denied: {reason}"),
        );
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

fn record_denial(slot: &Mutex<Option<String>>, message: String) {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert(message);
}

type WasiResponse = http::Response<WasiBody>;
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Resolves `host` (a name or an address literal, IPv6 in brackets or not)
/// to its addresses, or returns an error text when the name does not resolve.
pub(crate) async fn resolve_host(host: &str, port: u16) -> std::result::Result<Vec<IpAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(address) => Ok(vec![address]),
        Err(_) => Ok(tokio::net::lookup_host((bare, port))
            .await
            .map_err(|err| format!("resolving {bare} failed: {err}"))?
            .map(|socket| socket.ip())
            .collect()),
    }
}

/// Returns the first address of `host:port` that the policy forbids, or an
/// error text when the name does not resolve.
async fn forbidden_address(
    host: &str,
    port: u16,
    policy: &EgressPolicy,
) -> std::result::Result<Option<IpAddr>, String> {
    let addresses = resolve_host(host, port).await?;
    Ok(addresses.into_iter().find(|address| policy.forbids(*address)))
}

/// Returns `requested` capped at `limit`, or `limit` when nothing was requested.
fn capped(requested: Option<Duration>, limit: Duration) -> Option<Duration> {
    Some(requested.map_or(limit, |requested| requested.min(limit)))
}

/// Returns the origin of a URI as `scheme://host:port`, with the default
/// port filled in.
fn origin(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let port = uri.port_u16().or(match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
}

/// Returns whether `origin` matches an allow-list entry. An entry is an exact
/// origin (`https://api.example.com:443`) or has a leading wildcard label
/// (`https://*.example.com:443`) that matches one or more subdomain labels.
pub(crate) fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|entry| {
        if entry == origin {
            return true;
        }
        let Some((scheme, rest)) = entry.split_once("://*.") else {
            return false;
        };
        let Some(rest_of_origin) = origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://"))
        else {
            return false;
        };
        rest_of_origin
            .strip_suffix(rest)
            .is_some_and(|subdomain| subdomain.len() > 1 && subdomain.ends_with('.'))
    })
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<(WasiResponse, IoFuture)>> + Send> {
        drop(fut);
        let target = origin(request.uri());
        let Some(origin_text) = target
            .clone()
            .filter(|o| origin_allowed(o, &self.allowed_origins))
        else {
            let shown = target.unwrap_or_else(|| request.uri().to_string());
            return self.deny(
                &shown,
                "the origin is not on the connector's egress allow-list; use a path under the connector \
                 instance's base URL, or declare the host in the component manifest",
            );
        };
        if self.allowed_origins.first() == Some(&origin_text) {
            for (name, value) in &self.injected_headers {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_str(value),
                ) {
                    request.headers_mut().insert(name, value);
                }
            }
        }
        let policy = Arc::clone(&self.policy);
        let options = RequestOptions {
            connect_timeout: capped(options.and_then(|o| o.connect_timeout), policy.timeout),
            first_byte_timeout: capped(options.and_then(|o| o.first_byte_timeout), policy.timeout),
            between_bytes_timeout: capped(
                options.and_then(|o| o.between_bytes_timeout),
                policy.timeout,
            ),
        };
        let host = request.uri().host().unwrap_or_default().to_owned();
        let port =
            request
                .uri()
                .port_u16()
                .unwrap_or(if request.uri().scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
        // NOTE: the name is resolved here and again when connecting, so a DNS
        // answer that changes in between (rebinding) is not caught. Pinning
        // the checked address needs a connector of our own in place of
        // `default_send_request`.
        let step_id = self.step_id.clone();
        let denied = Arc::clone(&self.denied);
        Box::new(async move {
            match forbidden_address(&host, port, &policy).await {
                Ok(None) => {}
                Ok(Some(address)) => {
                    tracing::warn!(step.id = %step_id, target = %origin_text, %address, "Outbound request to a private address denied");
                    record_denial(
                        &denied,
                        format!(
                            "outbound request to {origin_text} denied: it resolves to the private address {address}, \
                             which connectors may not reach unless the operator lists it in `egress_allowed_private`"
                        ),
                    );
                    return Err(Error::DestinationIpProhibited);
                }
                Err(reason) => {
                    tracing::warn!(step.id = %step_id, target = %origin_text, reason = %reason, "Outbound request failed");
                    return Err(Error::DestinationNotFound);
                }
            }
            // NOTE: this sender trusts only the bundled `webpki-roots`, so
            // `egress_extra_ca_file` does not reach connector requests. Sending
            // them with the host's `EgressClient` would close that gap.
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let limit = policy.max_response_bytes;
            let limited = response.map(|body| {
                http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
                    .map_err(move |err| match err.downcast::<Error>() {
                        Ok(inner) => *inner,
                        Err(_) => Error::HttpResponseBodySize(Some(limit)),
                    })
                    .boxed_unsync()
            });
            Ok((limited, Box::new(io) as IoFuture))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn origin_exact_and_wildcard() {
        let allowed = vec![
            "https://api.example.com:443".to_owned(),
            "https://*.hooks.test:443".to_owned(),
        ];
        assert!(origin_allowed("https://api.example.com:443", &allowed));
        assert!(origin_allowed("https://a.hooks.test:443", &allowed));
        assert!(origin_allowed("https://a.b.hooks.test:443", &allowed));
        assert!(!origin_allowed("https://hooks.test:443", &allowed));
        assert!(!origin_allowed("https://evilhooks.test:443", &allowed));
        assert!(!origin_allowed("http://api.example.com:443", &allowed));
        assert!(!origin_allowed("https://api.example.com:8443", &allowed));
        assert!(!origin_allowed("https://api.example.com:443", &[]));
    }
}
