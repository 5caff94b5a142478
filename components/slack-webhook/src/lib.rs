//! Built-in connector `builtin:slack-webhook`: posts a message to a
//! Slack-compatible incoming webhook, the connector instance's base URL.
//!
//! Config: `{"text": "New SCIM failure in {{triggeringEvent.data.directory}}",
//! "blocks": [...], "username": "Sluice", "iconEmoji": ":rotating_light:"}`.
//! `text` is required, because Slack shows it in notifications even when
//! `blocks` are set. The result, stored at `connectors.<key>`, is
//! `{"status": 200, "delivered": true}`. A status other than 2xx is an
//! `upstream-failure` naming the status and the receiver's reply.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_sdk::http::{self, Request};
use sluice_sdk::{Connector, StepError, config};

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Message text, also the notification text.
    pub text: String,
    /// Block Kit blocks, sent as given.
    pub blocks: Option<Vec<Value>>,
    /// Sender name, where the webhook allows overriding it.
    pub username: Option<String>,
    /// Sender icon as an emoji code, where the webhook allows overriding it.
    pub icon_emoji: Option<String>,
}

/// The JSON body Slack's incoming webhooks take.
#[derive(Debug, Serialize, PartialEq)]
pub struct Message<'c> {
    /// Message text.
    pub text: &'c str,
    /// Block Kit blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<&'c [Value]>,
    /// Sender name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'c str>,
    /// Sender icon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<&'c str>,
}

/// The built-in Slack webhook connector.
pub struct SlackWebhook;

impl Connector for SlackWebhook {
    type Config = Config;

    fn run(config: Config) -> Result<Value, StepError> {
        let request = build_request(&config, config::get("baseUrl"))?;
        let response = http::send(request)?;
        if !response.is_success() {
            let reply: String = String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect();
            return Err(StepError::upstream_failure(format!(
                "the webhook returned status {}: {reply}",
                response.status
            )));
        }
        Ok(json!({ "status": response.status, "delivered": true }))
    }
}

/// Builds the webhook request.
///
/// # Errors
///
/// Returns `invalid-config` when the text is empty or no instance is bound.
pub fn build_request(config: &Config, webhook_url: Option<String>) -> Result<Request, StepError> {
    let url = webhook_url.ok_or_else(|| {
        StepError::invalid_config(
            "the step has no connector instance: set the step's `connector` to an instance whose `baseUrl` is \
             the webhook URL",
        )
    })?;
    if config.text.trim().is_empty() {
        return Err(StepError::invalid_config(
            "invalid config field `text`: it is empty; write the message, which notifications show",
        ));
    }
    let message = Message {
        text: &config.text,
        blocks: config.blocks.as_deref(),
        username: config.username.as_deref(),
        icon_emoji: config.icon_emoji.as_deref(),
    };
    Request::post(url).json(&message)
}

sluice_sdk::export_connector!(SlackWebhook);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_carries_text_and_optional_fields() {
        let config: Config =
            serde_json::from_value(json!({"text": "hi", "iconEmoji": ":x:"})).expect("valid");
        let request = build_request(&config, Some("https://hooks.example.test/T1/B2".to_owned()))
            .expect("valid");
        assert_eq!(request.url, "https://hooks.example.test/T1/B2");
        let body: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(body, json!({"text": "hi", "icon_emoji": ":x:"}));
    }

    #[test]
    fn empty_text_and_missing_instance_are_rejected() {
        let empty: Config = serde_json::from_value(json!({"text": " "})).expect("valid");
        let err = build_request(&empty, Some("https://h.test".to_owned())).expect_err("empty");
        assert!(err.to_string().contains("`text`"), "{err}");
        let fine: Config = serde_json::from_value(json!({"text": "x"})).expect("valid");
        let err = build_request(&fine, None).expect_err("no instance");
        assert!(err.to_string().contains("connector instance"), "{err}");
    }
}
