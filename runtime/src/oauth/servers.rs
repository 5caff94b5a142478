//! MCP servers: the per-project records that each get an OAuth
//! authorization-server surface (metadata and client registration).

use serde::{Deserialize, Serialize};
use url::Url;

/// Maximum number of entries in each list of an MCP server record.
pub const MAX_SERVER_LIST_ENTRIES: usize = 100;

/// Maximum length of a name, scope, domain or URL in a server record, in bytes.
pub const MAX_SERVER_FIELD_BYTES: usize = 2048;

/// An MCP server of a project, as the management API creates and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServer {
    /// Server id, unique in the project and part of the issuer URL.
    pub id: String,
    /// Operator's name for the server.
    pub name: String,
    /// Operator's description.
    #[serde(default)]
    pub description: String,
    /// Scopes a client may request; empty allows any scope.
    #[serde(default)]
    pub approved_scopes: Vec<String>,
    /// Redirect URIs a client may register, compared exactly; empty allows
    /// any URI that passes the transport rules.
    #[serde(default)]
    pub approved_callback_urls: Vec<String>,
    /// Registration settings.
    #[serde(default)]
    pub registration: RegistrationSettings,
    /// Id of the management flow that decides each dynamic registration;
    /// without one, clients are registered `unverified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_flow_id: Option<String>,
    /// The operator's OAuth authorization endpoint, advertised in the
    /// metadata. Sluice does not serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The operator's OAuth token endpoint, advertised in the metadata.
    /// Sluice does not serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Creation time in milliseconds since the Unix epoch.
    #[serde(default)]
    pub created: u64,
    /// Time of the last change in milliseconds since the Unix epoch.
    #[serde(default)]
    pub updated: u64,
}

/// Registration settings of an MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationSettings {
    /// Whether the RFC 7591 registration endpoint accepts registrations.
    #[serde(default = "enabled")]
    pub dynamic_client_registration: bool,
    /// Whether clients may identify with a Client ID Metadata Document (an
    /// HTTPS URL as `client_id`).
    #[serde(default)]
    pub client_id_metadata_documents: bool,
    /// Host names whose Client ID Metadata Documents are accepted; a domain
    /// also covers its subdomains.
    #[serde(default)]
    pub approved_cimd_domains: Vec<String>,
}

fn enabled() -> bool {
    true
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            dynamic_client_registration: true,
            client_id_metadata_documents: false,
            approved_cimd_domains: Vec::new(),
        }
    }
}

/// Returns whether `id` is a valid server id: 1 to 64 letters, digits, `_`
/// and `-`, so it fits in an issuer URL path unescaped.
pub fn is_server_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Returns whether `domain` is a host name such as `example.com`: labels of
/// letters, digits and `-`, separated by dots, with no scheme, port or path.
pub fn is_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Returns whether `host` is `domain` or one of its subdomains, ignoring
/// ASCII case.
pub fn host_in_domain(host: &str, domain: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// Checks every field of a server record and returns one message per
/// problem, each naming the field and the fix. Empty when the record is valid.
pub fn validate_server(server: &McpServer) -> Vec<String> {
    let mut problems = Vec::new();
    if !is_server_id(&server.id) {
        problems.push(format!(
            "`id` {:?} is invalid: use 1 to 64 letters, digits, `_` and `-`, such as \"docs-mcp\"",
            server.id
        ));
    }
    if server.name.trim().is_empty() || server.name.len() > 256 {
        problems.push("`name` is invalid: write 1 to 256 characters".to_owned());
    }
    if server.description.len() > MAX_SERVER_FIELD_BYTES {
        problems.push(format!(
            "`description` is longer than {MAX_SERVER_FIELD_BYTES} bytes: shorten it"
        ));
    }
    check_list(
        &mut problems,
        "approvedScopes",
        &server.approved_scopes,
        |scope| {
            (!is_scope_token(scope)).then(|| {
                "is not a scope: use printable ASCII without spaces, quotes or backslashes"
                    .to_owned()
            })
        },
    );
    check_list(
        &mut problems,
        "approvedCallbackUrls",
        &server.approved_callback_urls,
        |url| crate::oauth::registration::check_redirect_uri(url).err(),
    );
    check_list(
        &mut problems,
        "registration.approvedCimdDomains",
        &server.registration.approved_cimd_domains,
        |domain| {
            (!is_domain(domain)).then(|| "is not a host name: write a name such as \"example.com\" without scheme or path".to_owned())
        },
    );
    if let Some(flow_id) = &server.registration_flow_id
        && (flow_id.is_empty() || flow_id.len() > 256)
    {
        problems.push(
            "`registrationFlowId` is invalid: name a deployed flow, or leave it out".to_owned(),
        );
    }
    for (field, value) in [
        ("authorizationEndpoint", &server.authorization_endpoint),
        ("tokenEndpoint", &server.token_endpoint),
    ] {
        if let Some(value) = value
            && let Err(reason) = check_endpoint(value)
        {
            problems.push(format!("`{field}` {value:?} {reason}"));
        }
    }
    problems
}

/// Checks the length of a list and each of its entries with `check`, which
/// returns the reason an entry is invalid.
fn check_list(
    problems: &mut Vec<String>,
    field: &str,
    entries: &[String],
    check: impl Fn(&str) -> Option<String>,
) {
    if entries.len() > MAX_SERVER_LIST_ENTRIES {
        problems.push(format!(
            "`{field}` has {} entries: the maximum is {MAX_SERVER_LIST_ENTRIES}",
            entries.len()
        ));
    }
    for (index, entry) in entries.iter().enumerate() {
        if entry.len() > MAX_SERVER_FIELD_BYTES {
            problems.push(format!(
                "`{field}[{index}]` is longer than {MAX_SERVER_FIELD_BYTES} bytes"
            ));
        } else if let Some(reason) = check(entry) {
            problems.push(format!("`{field}[{index}]` {entry:?} {reason}"));
        }
    }
}

/// Returns whether `scope` is one scope token as RFC 6749 §3.3 defines it:
/// printable ASCII except space, `"` and `\`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Checks an authorization or token endpoint URL: HTTPS, or http on a
/// loopback host, with no fragment (RFC 8414 §2).
fn check_endpoint(value: &str) -> Result<(), String> {
    let url = Url::parse(value).map_err(|err| {
        format!(
            "is not an absolute URL ({err}): write one such as \"https://auth.example.com/token\""
        )
    })?;
    if url.fragment().is_some() {
        return Err("has a fragment: remove the `#...` part".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if crate::oauth::registration::is_loopback_url(&url) => Ok(()),
        _ => {
            Err("must use https (http is allowed only on 127.0.0.1, [::1] or localhost)".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> McpServer {
        McpServer {
            id: "docs".to_owned(),
            name: "Docs".to_owned(),
            description: String::new(),
            approved_scopes: vec!["mcp:read".to_owned()],
            approved_callback_urls: Vec::new(),
            registration: RegistrationSettings::default(),
            registration_flow_id: None,
            authorization_endpoint: Some("https://auth.example.com/authorize".to_owned()),
            token_endpoint: None,
            created: 0,
            updated: 0,
        }
    }

    #[test]
    fn valid_server_has_no_problems() {
        assert_eq!(validate_server(&server()), Vec::<String>::new());
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut bad = server();
        bad.id = "has space".to_owned();
        bad.name = String::new();
        bad.approved_scopes = vec!["two words".to_owned()];
        bad.approved_callback_urls = vec!["http://example.com/cb".to_owned()];
        bad.registration.approved_cimd_domains = vec!["https://example.com".to_owned()];
        bad.token_endpoint = Some("ftp://example.com".to_owned());
        let problems = validate_server(&bad).join("\n");
        for field in [
            "`id`",
            "`name`",
            "`approvedScopes[0]`",
            "`approvedCallbackUrls[0]`",
            "`registration.approvedCimdDomains[0]`",
            "`tokenEndpoint`",
        ] {
            assert!(
                problems.contains(field),
                "{field} missing from:\n{problems}"
            );
        }
    }

    #[test]
    fn subdomains_are_in_domain() {
        assert!(host_in_domain("app.Example.com", "example.com"));
        assert!(host_in_domain("example.com", "example.com"));
        assert!(!host_in_domain("badexample.com", "example.com"));
    }
}
