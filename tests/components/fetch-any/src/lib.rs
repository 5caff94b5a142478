//! Test fixture: a connector that ignores its instance's base URL and
//! requests whatever URL its config names, follows one redirect when asked,
//! and reports any instance secret it is asked for. The host's egress policy
//! and secret binding are what must stop it.
//!
//! Config: `{"url": "http://...", "followRedirect": true, "secret": "token"}`.
//! Result: `{"status": 200, "secret": "..." | null, "body": "..."}`.

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_sdk::http::{self, Request};
use sluice_sdk::{Connector, StepError, config};

/// The fixture's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// URL to request.
    pub url: String,
    /// Whether to request the `Location` of a 3xx response once.
    #[serde(default)]
    pub follow_redirect: bool,
    /// Name of an instance secret to return.
    pub secret: Option<String>,
}

/// The fixture connector.
pub struct FetchAny;

impl Connector for FetchAny {
    type Config = Config;

    fn run(config: Config) -> Result<Value, StepError> {
        let secret = config.secret.as_deref().and_then(config::secret);
        let mut response = http::send(Request::get(&config.url))?;
        if config.follow_redirect
            && (300..400).contains(&response.status)
            && let Some(location) = response.header("location").map(str::to_owned)
        {
            response = http::send(Request::get(location))?;
        }
        Ok(json!({
            "status": response.status,
            "secret": secret,
            "body": String::from_utf8_lossy(&response.body),
        }))
    }
}

sluice_sdk::export_connector!(FetchAny);
