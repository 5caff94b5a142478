//! The outbound HTTP policy of connector steps: deny by default, allow only
//! the origins bound to the step.

use wasmtime_wasi_http::{Error, RequestOptions, Result, WasiBody, WasiHttpHooks};

/// [`WasiHttpHooks`] that let a request through only when its origin is on
/// the step's allow-list, and remember the first denial for the step error.
pub(crate) struct EgressHooks {
    allowed_origins: Vec<String>,
    step_id: String,
    pub(crate) denied: Option<String>,
}

impl EgressHooks {
    pub(crate) fn new(allowed_origins: Vec<String>, step_id: String) -> Self {
        Self {
            allowed_origins,
            step_id,
            denied: None,
        }
    }
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
        let Some(rest_of_origin) = origin.strip_prefix(scheme).and_then(|o| o.strip_prefix("://")) else {
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
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                )>,
            > + Send,
    > {
        let target = origin(request.uri());
        let allowed = target
            .as_deref()
            .is_some_and(|o| origin_allowed(o, &self.allowed_origins));
        if !allowed {
            let shown = target.unwrap_or_else(|| request.uri().to_string());
            tracing::warn!(step.id = %self.step_id, origin = %shown, "Outbound request denied by the egress allow-list");
            self.denied.get_or_insert_with(|| {
                format!(
                    "outbound request to {shown} denied: the origin is not on the connector's \
                     egress allow-list; declare it in the component manifest"
                )
            });
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        drop(fut);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
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
