//! Built-in connector `builtin:email-gateway`: sends one email through an
//! HTTP email API, such as a transactional email service or an internal
//! mail relay with a JSON endpoint.
//!
//! Config: `{"to": ["ada@example.com"], "subject": "Your invite is waiting",
//! "text": "Hi {{user.name}}, ...", "html": "<p>...</p>", "from":
//! "no-reply@example.com", "replyTo": "support@example.com", "extra":
//! {"tag": "invite-follow-up"}}`. `to` is one address or a list, and
//! `subject` and `text` are required. `from` defaults to the instance
//! setting `from`.
//!
//! The request is a `POST` to the instance's base URL plus its `path`
//! setting (none by default), with the JSON body `{"from", "to", "subject",
//! "text", "html", "replyTo"}` and the fields of `extra` merged in, which is
//! how a provider's own fields are sent. The instance setting `toField`
//! renames `to` for APIs that call it something else, such as `recipients`.
//! The host adds the instance's authentication. The result, stored at
//! `connectors.<key>`, is `{"status", "accepted": true, "response"}`, where
//! `response` is the API's JSON reply, or null.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_sdk::http::{self, Request};
use sluice_sdk::{Connector, StepError, config};

/// One address or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    /// A single address.
    One(String),
    /// Several addresses.
    Many(Vec<String>),
}

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Recipients.
    pub to: Recipients,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: Option<String>,
    /// Sender; the instance's `from` setting when absent.
    pub from: Option<String>,
    /// Reply-to address.
    pub reply_to: Option<String>,
    /// Provider-specific fields merged into the body.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// Instance settings the connector reads.
#[derive(Debug, Default)]
pub struct Settings {
    /// The instance's base URL.
    pub base_url: Option<String>,
    /// Path under the base URL.
    pub path: Option<String>,
    /// Default sender.
    pub from: Option<String>,
    /// Name of the recipients field, `to` by default.
    pub to_field: Option<String>,
}

/// The built-in email gateway connector.
pub struct EmailGateway;

impl Connector for EmailGateway {
    type Config = Config;

    fn run(config: Config) -> Result<Value, StepError> {
        let settings = Settings {
            base_url: config::get("baseUrl"),
            path: config::get("path"),
            from: config::get("from"),
            to_field: config::get("toField"),
        };
        let request = build_request(&config, &settings)?;
        let response = http::send(request)?;
        if !response.is_success() {
            let reply: String = String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect();
            return Err(StepError::upstream_failure(format!(
                "the email API returned status {}: {reply}",
                response.status
            )));
        }
        let reply = serde_json::from_slice::<Value>(&response.body).unwrap_or(Value::Null);
        Ok(json!({ "status": response.status, "accepted": true, "response": reply }))
    }
}

/// Builds the API request.
///
/// # Errors
///
/// Returns `invalid-config` naming the missing or empty field.
pub fn build_request(config: &Config, settings: &Settings) -> Result<Request, StepError> {
    let base = settings.base_url.as_deref().ok_or_else(|| {
        StepError::invalid_config(
            "the step has no connector instance: set the step's `connector` to an instance whose `baseUrl` is \
             the email API",
        )
    })?;
    let recipients: Vec<String> = match &config.to {
        Recipients::One(address) => vec![address.clone()],
        Recipients::Many(addresses) => addresses.clone(),
    };
    let recipients: Vec<String> = recipients
        .into_iter()
        .filter(|address| !address.trim().is_empty())
        .collect();
    if recipients.is_empty() {
        return Err(StepError::invalid_config(
            "invalid config field `to`: it names no address; check the template that fills it",
        ));
    }
    if config.subject.trim().is_empty() {
        return Err(StepError::invalid_config(
            "invalid config field `subject`: it is empty",
        ));
    }
    let from = config.from.clone().or_else(|| settings.from.clone()).ok_or_else(|| {
        StepError::invalid_config(
            "invalid config: no sender; set `from` in the step or the `from` setting of the connector instance",
        )
    })?;
    let mut body = Map::new();
    body.insert("from".to_owned(), json!(from));
    body.insert(
        settings.to_field.clone().unwrap_or_else(|| "to".to_owned()),
        json!(recipients),
    );
    body.insert("subject".to_owned(), json!(config.subject));
    body.insert("text".to_owned(), json!(config.text));
    if let Some(html) = &config.html {
        body.insert("html".to_owned(), json!(html));
    }
    if let Some(reply_to) = &config.reply_to {
        body.insert("replyTo".to_owned(), json!(reply_to));
    }
    for (key, value) in &config.extra {
        body.insert(key.clone(), value.clone());
    }
    let url = format!(
        "{}{}",
        base.trim_end_matches('/'),
        settings.path.as_deref().unwrap_or_default()
    );
    Request::post(url).json(&Value::Object(body))
}

sluice_sdk::export_connector!(EmailGateway);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> Config {
        serde_json::from_value(value).expect("valid config")
    }

    #[test]
    fn body_has_generic_shape_with_extra_fields() {
        let settings = Settings {
            base_url: Some("https://mail.example.test/".to_owned()),
            path: Some("/v1/send".to_owned()),
            from: Some("no-reply@example.test".to_owned()),
            to_field: Some("recipients".to_owned()),
        };
        let request = build_request(
            &config(json!({"to": "ada@example.test", "subject": "Hi", "text": "Body", "extra": {"tag": "invite"}})),
            &settings,
        )
        .expect("valid");
        assert_eq!(request.url, "https://mail.example.test/v1/send");
        let body: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(
            body,
            json!({"from": "no-reply@example.test", "recipients": ["ada@example.test"], "subject": "Hi",
                   "text": "Body", "tag": "invite"})
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let settings = Settings {
            base_url: Some("https://mail.example.test".to_owned()),
            ..Settings::default()
        };
        let no_sender = build_request(
            &config(json!({"to": ["a@x.test"], "subject": "s", "text": "t"})),
            &settings,
        )
        .expect_err("no sender");
        assert!(no_sender.to_string().contains("`from`"), "{no_sender}");
        let no_recipient = build_request(
            &config(json!({"to": [""], "subject": "s", "text": "t", "from": "f@x.test"})),
            &settings,
        )
        .expect_err("no recipient");
        assert!(no_recipient.to_string().contains("`to`"), "{no_recipient}");
        let no_instance = build_request(
            &config(json!({"to": "a@x.test", "subject": "s", "text": "t", "from": "f@x.test"})),
            &Settings::default(),
        )
        .expect_err("no instance");
        assert!(
            no_instance.to_string().contains("connector instance"),
            "{no_instance}"
        );
    }
}
