//! Validation of client metadata for Dynamic Client Registration (RFC 7591)
//! and client configuration (RFC 7592), shared with Client ID Metadata
//! Documents, which carry the same fields.

use serde_json::{Map, Value};
use url::{Host, Url};

use super::clients::ClientMetadata;
use super::servers::{McpServer, is_scope_token};

/// Maximum size of a registration request body, in bytes.
pub const MAX_REGISTRATION_BODY_BYTES: usize = 64 * 1024;

/// Maximum number of redirect URIs, contacts, grant types or response types.
pub const MAX_LIST_ENTRIES: usize = 20;

/// Maximum length of one string field, in bytes.
pub const MAX_FIELD_BYTES: usize = 2048;

/// Token endpoint authentication methods a client may register.
pub const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

/// Grant types a client may register.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Response types a client may register.
pub const RESPONSE_TYPES: [&str; 1] = ["code"];

/// An RFC 7591 §3.2.2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A redirect URI is invalid.
    InvalidRedirectUri,
    /// A metadata field other than the redirect URIs is invalid.
    InvalidClientMetadata,
    /// The request carries a software statement, which Sluice does not accept.
    InvalidSoftwareStatement,
}

impl ErrorCode {
    /// Returns the `error` value of the response body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
        }
    }
}

/// Rejected client metadata: the RFC 7591 error code and a description that
/// names every invalid field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct MetadataError {
    /// The error code.
    pub code: ErrorCode,
    /// Description of every problem, sent as `error_description`.
    pub description: String,
}

impl MetadataError {
    /// Creates an `invalid_client_metadata` error.
    pub fn metadata(description: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidClientMetadata,
            description: description.into(),
        }
    }
}

/// Rules an MCP server applies to client metadata.
#[derive(Debug, Clone, Copy)]
pub struct MetadataPolicy<'a> {
    /// Scopes a client may request; empty allows any.
    pub approved_scopes: &'a [String],
    /// Redirect URIs a client may register; empty allows any that passes
    /// the transport rules.
    pub approved_callback_urls: &'a [String],
}

impl McpServer {
    /// Returns the rules this server applies to client metadata.
    pub fn metadata_policy(&self) -> MetadataPolicy<'_> {
        MetadataPolicy {
            approved_scopes: &self.approved_scopes,
            approved_callback_urls: &self.approved_callback_urls,
        }
    }
}

/// Returns whether the URL's host is `127.0.0.1`, `[::1]` or `localhost`,
/// the loopback hosts on which plain http is allowed.
pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(address)) => address == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(address)) => address == std::net::Ipv6Addr::LOCALHOST,
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks one redirect URI against RFC 7591 §2 and RFC 6749 §3.1.2: an
/// absolute URL with no fragment, HTTPS, or http on a loopback host.
///
/// # Errors
///
/// Returns the reason the URI is invalid.
pub fn check_redirect_uri(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|err| format!("is not an absolute URL ({err})"))?;
    if url.fragment().is_some() {
        return Err("has a fragment, which redirect URIs may not have".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("contains user information, which redirect URIs may not have".to_owned());
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback_url(&url) => Ok(url),
        "http" => Err("uses http on a host that is not loopback: use https, or http on 127.0.0.1, [::1] or localhost".to_owned()),
        scheme => Err(format!("uses the scheme `{scheme}`: use https, or http on 127.0.0.1, [::1] or localhost")),
    }
}

/// Problems found while reading a request, grouped by error code.
#[derive(Default)]
struct Problems {
    redirect: Vec<String>,
    metadata: Vec<String>,
}

impl Problems {
    fn into_result(self) -> Result<(), MetadataError> {
        if !self.redirect.is_empty() {
            let mut all = self.redirect;
            all.extend(self.metadata);
            return Err(MetadataError {
                code: ErrorCode::InvalidRedirectUri,
                description: all.join("; "),
            });
        }
        if !self.metadata.is_empty() {
            return Err(MetadataError::metadata(self.metadata.join("; ")));
        }
        Ok(())
    }
}

/// Takes an optional string field out of `fields`.
fn take_string(
    fields: &mut Map<String, Value>,
    name: &str,
    problems: &mut Problems,
) -> Option<String> {
    match fields.remove(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.len() > MAX_FIELD_BYTES => {
            problems
                .metadata
                .push(format!("`{name}` is longer than {MAX_FIELD_BYTES} bytes"));
            None
        }
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            problems.metadata.push(format!("`{name}` must be a string"));
            None
        }
    }
}

/// Takes an optional array of strings out of `fields`; `None` when absent.
fn take_strings(
    fields: &mut Map<String, Value>,
    name: &str,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    let value = match fields.remove(name) {
        None | Some(Value::Null) => return None,
        Some(value) => value,
    };
    let Value::Array(entries) = value else {
        problems
            .metadata
            .push(format!("`{name}` must be an array of strings"));
        return Some(Vec::new());
    };
    if entries.len() > MAX_LIST_ENTRIES {
        problems.metadata.push(format!(
            "`{name}` has {} entries: the maximum is {MAX_LIST_ENTRIES}",
            entries.len()
        ));
        return Some(Vec::new());
    }
    let mut strings = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        match entry {
            Value::String(text) if text.len() > MAX_FIELD_BYTES => {
                problems.metadata.push(format!(
                    "`{name}[{index}]` is longer than {MAX_FIELD_BYTES} bytes"
                ));
            }
            Value::String(text) => strings.push(text),
            _ => problems
                .metadata
                .push(format!("`{name}[{index}]` must be a string")),
        }
    }
    Some(strings)
}

/// Checks a URL-valued metadata field such as `client_uri`.
fn check_uri_field(name: &str, value: Option<&String>, problems: &mut Problems) {
    let Some(value) = value else { return };
    match Url::parse(value) {
        Ok(url) if url.scheme() == "https" || (url.scheme() == "http" && is_loopback_url(&url)) => {}
        Ok(_) => problems.metadata.push(format!(
            "`{name}` {value:?} must use https (http is allowed only on 127.0.0.1, [::1] or localhost)"
        )),
        Err(err) => problems.metadata.push(format!("`{name}` {value:?} is not an absolute URL ({err})")),
    }
}

/// Validates client metadata from a registration request, an RFC 7592
/// update, or a Client ID Metadata Document, and fills in the RFC 7591
/// defaults (`authorization_code`, `code`, `client_secret_basic`).
///
/// Checks, each reported with the field name:
/// - `redirect_uris`: required when `authorization_code` is a grant type.
///   Each is HTTPS or http on a loopback host, without a fragment, and one
///   of the policy's approved callback URLs when that list is not empty.
/// - `grant_types` and `response_types`: known values, and
///   `authorization_code` registered exactly when `code` is.
/// - `token_endpoint_auth_method`: `none`, `client_secret_basic` or
///   `client_secret_post`; `client_credentials` needs a secret.
/// - `scope`: scope tokens within the approved scopes when that list is not empty.
/// - URL fields, string types, and the sizes in [`MAX_LIST_ENTRIES`] and
///   [`MAX_FIELD_BYTES`]; `jwks` and `jwks_uri` are exclusive.
/// - `software_statement` is not accepted.
///
/// Fields named `client_id`, `client_secret`, `registration_access_token`
/// and the other values the server issues are dropped, because a client
/// cannot choose them.
///
/// # Errors
///
/// Returns the RFC 7591 error code and a description of every problem.
pub fn validate_client_metadata(
    request: &Value,
    policy: MetadataPolicy<'_>,
) -> Result<ClientMetadata, MetadataError> {
    let Value::Object(fields) = request else {
        return Err(MetadataError::metadata(
            "the request body must be a JSON object of client metadata",
        ));
    };
    if fields.contains_key("software_statement") {
        return Err(MetadataError {
            code: ErrorCode::InvalidSoftwareStatement,
            description:
                "software statements are not accepted: register without `software_statement`"
                    .to_owned(),
        });
    }
    let mut fields = fields.clone();
    for issued in [
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
    ] {
        fields.remove(issued);
    }
    let mut problems = Problems::default();

    let redirect_uris_sent = fields
        .get("redirect_uris")
        .is_some_and(|value| !value.is_null());
    let redirect_uris = take_strings(&mut fields, "redirect_uris", &mut problems);
    let grant_types = take_strings(&mut fields, "grant_types", &mut problems)
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    let response_types = take_strings(&mut fields, "response_types", &mut problems)
        .unwrap_or_else(|| vec!["code".to_owned()]);
    let token_endpoint_auth_method =
        take_string(&mut fields, "token_endpoint_auth_method", &mut problems)
            .unwrap_or_else(|| "client_secret_basic".to_owned());
    let client_name = take_string(&mut fields, "client_name", &mut problems);
    let client_uri = take_string(&mut fields, "client_uri", &mut problems);
    let logo_uri = take_string(&mut fields, "logo_uri", &mut problems);
    let scope = take_string(&mut fields, "scope", &mut problems);
    let contacts = take_strings(&mut fields, "contacts", &mut problems).unwrap_or_default();
    let tos_uri = take_string(&mut fields, "tos_uri", &mut problems);
    let policy_uri = take_string(&mut fields, "policy_uri", &mut problems);
    let jwks_uri = take_string(&mut fields, "jwks_uri", &mut problems);
    let software_id = take_string(&mut fields, "software_id", &mut problems);
    let software_version = take_string(&mut fields, "software_version", &mut problems);

    check_grant_and_response_types(&grant_types, &response_types, &mut problems);
    if !AUTH_METHODS.contains(&token_endpoint_auth_method.as_str()) {
        problems.metadata.push(format!(
            "`token_endpoint_auth_method` {token_endpoint_auth_method:?} is not supported: use `none`, \
             `client_secret_basic` or `client_secret_post`"
        ));
    }
    if token_endpoint_auth_method == "none"
        && grant_types
            .iter()
            .any(|grant| grant == "client_credentials")
    {
        problems
            .metadata
            .push("`grant_types` `client_credentials` needs a client secret: pick `client_secret_basic` or `client_secret_post`".to_owned());
    }

    let redirect_uris = redirect_uris.unwrap_or_default();
    // A `redirect_uris` of the wrong type is already reported as invalid metadata.
    let type_error =
        redirect_uris_sent && redirect_uris.is_empty() && !fields_had_empty_list(request);
    if grant_types
        .iter()
        .any(|grant| grant == "authorization_code")
        && redirect_uris.is_empty()
        && !type_error
    {
        problems
            .redirect
            .push("`redirect_uris` is missing: the `authorization_code` grant needs at least one redirect URI".to_owned());
    }
    for (index, uri) in redirect_uris.iter().enumerate() {
        if let Err(reason) = check_redirect_uri(uri) {
            problems
                .redirect
                .push(format!("`redirect_uris[{index}]` {uri:?} {reason}"));
        } else if !policy.approved_callback_urls.is_empty()
            && !policy.approved_callback_urls.contains(uri)
        {
            problems.redirect.push(format!(
                "`redirect_uris[{index}]` {uri:?} is not one of the server's approved callback URLs"
            ));
        }
    }

    if let Some(scope) = &scope {
        for token in scope.split(' ').filter(|token| !token.is_empty()) {
            if !is_scope_token(token) {
                problems
                    .metadata
                    .push(format!("`scope` contains the invalid scope {token:?}"));
            } else if !policy.approved_scopes.is_empty()
                && !policy
                    .approved_scopes
                    .iter()
                    .any(|approved| approved == token)
            {
                problems.metadata.push(format!(
                    "`scope` {token:?} is not approved for this server: request only {}",
                    policy.approved_scopes.join(", ")
                ));
            }
        }
    }
    for (name, value) in [
        ("client_uri", &client_uri),
        ("logo_uri", &logo_uri),
        ("tos_uri", &tos_uri),
        ("policy_uri", &policy_uri),
        ("jwks_uri", &jwks_uri),
    ] {
        check_uri_field(name, value.as_ref(), &mut problems);
    }
    if jwks_uri.is_some() && fields.get("jwks").is_some_and(|jwks| !jwks.is_null()) {
        problems
            .metadata
            .push("`jwks` and `jwks_uri` are both set: send only one of them".to_owned());
    }
    if client_name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        problems
            .metadata
            .push("`client_name` is blank: leave it out or write a name".to_owned());
    }
    for (index, contact) in contacts.iter().enumerate() {
        if contact.trim().is_empty() {
            problems
                .metadata
                .push(format!("`contacts[{index}]` is blank"));
        }
    }
    if fields.len() > MAX_LIST_ENTRIES * 2 {
        problems.metadata.push(format!(
            "the request has {} unknown fields: the maximum is {}",
            fields.len(),
            MAX_LIST_ENTRIES * 2
        ));
    }
    problems.into_result()?;

    Ok(ClientMetadata {
        redirect_uris,
        token_endpoint_auth_method,
        grant_types,
        response_types,
        client_name,
        client_uri,
        logo_uri,
        scope,
        contacts,
        tos_uri,
        policy_uri,
        jwks_uri,
        software_id,
        software_version,
        extra: fields,
    })
}

/// Returns whether the request's `redirect_uris` is an empty array.
fn fields_had_empty_list(request: &Value) -> bool {
    request
        .get("redirect_uris")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
}

/// Checks the grant and response types against the supported ones and
/// against each other: RFC 7591 §2.1 pairs `authorization_code` with `code`.
fn check_grant_and_response_types(
    grant_types: &[String],
    response_types: &[String],
    problems: &mut Problems,
) {
    for grant in grant_types {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            problems.metadata.push(format!(
                "`grant_types` {grant:?} is not supported: use `authorization_code`, `refresh_token` or `client_credentials`"
            ));
        }
    }
    for response in response_types {
        if !RESPONSE_TYPES.contains(&response.as_str()) {
            problems.metadata.push(format!(
                "`response_types` {response:?} is not supported: use `code`"
            ));
        }
    }
    let has_code_grant = grant_types
        .iter()
        .any(|grant| grant == "authorization_code");
    let has_code_response = response_types.iter().any(|response| response == "code");
    if has_code_grant && !has_code_response {
        problems.metadata.push(
            "`grant_types` has `authorization_code` but `response_types` lacks `code`: add `code`"
                .to_owned(),
        );
    }
    if has_code_response && !has_code_grant {
        problems
            .metadata
            .push("`response_types` has `code` but `grant_types` lacks `authorization_code`: add `authorization_code`".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const OPEN: MetadataPolicy<'static> = MetadataPolicy {
        approved_scopes: &[],
        approved_callback_urls: &[],
    };

    #[test]
    fn defaults_fill_in() {
        let metadata = validate_client_metadata(
            &json!({"redirect_uris": ["https://app.example.com/cb"]}),
            OPEN,
        )
        .expect("valid metadata");
        assert_eq!(metadata.grant_types, vec!["authorization_code"]);
        assert_eq!(metadata.response_types, vec!["code"]);
        assert_eq!(metadata.token_endpoint_auth_method, "client_secret_basic");
        assert!(metadata.is_confidential());
    }

    #[test]
    fn redirect_uri_rules() {
        for good in [
            "https://app.example.com/cb",
            "http://127.0.0.1:3000/cb",
            "http://[::1]/cb",
            "http://localhost:9/cb",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good} should pass");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "myapp:/cb",
            "/relative",
            "http://127.0.0.2/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn mismatched_types_are_client_metadata_errors() {
        let error = validate_client_metadata(
            &json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["authorization_code"], "response_types": []}),
            OPEN,
        )
        .expect_err("code grant without code response");
        assert_eq!(error.code, ErrorCode::InvalidClientMetadata);
        assert!(
            error.description.contains("`code`"),
            "{}",
            error.description
        );
    }

    #[test]
    fn unapproved_callback_and_scope_rejected() {
        let callbacks = ["https://a.example/cb".to_owned()];
        let scopes = ["read".to_owned()];
        let policy = MetadataPolicy {
            approved_scopes: &scopes,
            approved_callback_urls: &callbacks,
        };
        let error =
            validate_client_metadata(&json!({"redirect_uris": ["https://b.example/cb"]}), policy)
                .expect_err("callback not approved");
        assert_eq!(error.code, ErrorCode::InvalidRedirectUri);
        let error = validate_client_metadata(
            &json!({"redirect_uris": ["https://a.example/cb"], "scope": "read write"}),
            policy,
        )
        .expect_err("scope not approved");
        assert_eq!(error.code, ErrorCode::InvalidClientMetadata);
        assert!(
            error.description.contains("\"write\""),
            "{}",
            error.description
        );
    }
}
