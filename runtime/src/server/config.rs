//! Server settings, layered: defaults, then the TOML file, then `SLUICE_*`
//! environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Settings of `sluice serve`. `Debug` leaves out `secret_key`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Folder of the database and the compiled-component cache.
    pub data_dir: PathBuf,
    /// Folder of flow files deployed at start; none when unset.
    pub flows: Option<PathBuf>,
    /// Folder of compiled components; `<data_dir>/cache` when unset.
    pub cache_dir: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Runs that may execute at once before the API returns 429.
    pub max_concurrent_runs: usize,
    /// Runs of one project that may execute at once before the API returns
    /// 429 to that project.
    pub max_concurrent_runs_per_project: usize,
    /// Maximum number of header fields in a request; more get 431.
    pub max_headers: usize,
    /// Largest request head (request line and headers), in bytes; a larger
    /// one gets 431.
    pub max_header_bytes: usize,
    /// Time a client has to send a request head, in milliseconds, counted
    /// from the moment the connection is ready for one. The connection is
    /// closed after it, so idle keep-alive connections are closed too.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a whole request body, in milliseconds;
    /// slower bodies get 408.
    pub body_read_timeout_ms: u64,
    /// Steps a run may take before it fails.
    pub max_steps: u32,
    /// Default wall-clock limit of one step, in milliseconds.
    pub step_timeout_ms: u64,
    /// Default linear-memory limit of one step, in MiB.
    pub step_memory_mib: u64,
    /// Workers executing runs started by audit events at once.
    pub trigger_workers: usize,
    /// Attempts of a run started by an audit event before it is kept as dead.
    pub trigger_max_attempts: u32,
    /// Delay before the first retry of a failed triggered run, in
    /// milliseconds; each further retry doubles it, up to five minutes.
    pub trigger_backoff_ms: u64,
    /// Maximum length of a chain of runs started by events that earlier triggered runs recorded.
    pub trigger_max_depth: u32,
    /// Days an audit event is kept; 0 keeps events forever.
    pub audit_retention_days: u64,
    /// Key that encrypts connector secrets, 32 bytes in base64; when unset,
    /// the key in `<data_dir>/secret.key` is used, created on first start.
    pub secret_key: Option<String>,
    /// Private, loopback or link-local networks (CIDR, such as
    /// `127.0.0.1/32`) that connectors may reach. Empty allows none.
    pub egress_allowed_private: Vec<String>,
    /// Maximum wait of a connector request to connect, for the first
    /// response byte and between bytes, in milliseconds.
    pub egress_timeout_ms: u64,
    /// Largest response body a connector may receive, in bytes.
    pub egress_max_response_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./sluice-data"),
            flows: None,
            cache_dir: None,
            max_body_bytes: 1 << 20,
            max_concurrent_runs: 64,
            max_concurrent_runs_per_project: 64,
            max_headers: 100,
            max_header_bytes: 32 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            max_steps: 1_000,
            step_timeout_ms: 1_000,
            step_memory_mib: 64,
            trigger_workers: 4,
            trigger_max_attempts: 5,
            trigger_backoff_ms: 1_000,
            trigger_max_depth: 8,
            audit_retention_days: 90,
            secret_key: None,
            egress_allowed_private: Vec::new(),
            egress_timeout_ms: 10_000,
            egress_max_response_bytes: 1 << 20,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("flows", &self.flows)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "(set)"))
            .field("egress_allowed_private", &self.egress_allowed_private)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Parses `egress_allowed_private`.
    ///
    /// # Errors
    ///
    /// Names the entry that is not a network in CIDR form.
    pub fn allowed_private_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.egress_allowed_private
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!(
                            "invalid setting `egress_allowed_private`: {entry:?} is not a network; write an \
                             address or a CIDR such as \"127.0.0.1/32\" or \"10.0.0.0/8\""
                        )
                    })
            })
            .collect()
    }
}

/// Setting names read from `SLUICE_<NAME>` environment variables.
const ENV_KEYS: [&str; 23] = [
    "listen",
    "data_dir",
    "flows",
    "cache_dir",
    "max_body_bytes",
    "max_concurrent_runs",
    "max_concurrent_runs_per_project",
    "max_headers",
    "max_header_bytes",
    "header_read_timeout_ms",
    "body_read_timeout_ms",
    "max_steps",
    "step_timeout_ms",
    "step_memory_mib",
    "trigger_workers",
    "trigger_max_attempts",
    "trigger_backoff_ms",
    "trigger_max_depth",
    "audit_retention_days",
    "secret_key",
    "egress_allowed_private",
    "egress_timeout_ms",
    "egress_max_response_bytes",
];

/// Settings given as command-line flags; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--flows`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<PathBuf>,
}

impl ServerConfig {
    /// Loads the settings from every layer.
    ///
    /// # Errors
    ///
    /// Returns a message that names the invalid setting, where it came from
    /// and the expected form, or that the config file is missing.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(format!(
                    "config file {} not found; pass an existing TOML file to --config",
                    path.display()
                ));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("SLUICE_").only(&ENV_KEYS))
            .merge(Serialized::defaults(flags));
        figment.extract().map_err(|err| {
            let mut message = format!("invalid setting: {err}");
            if let Some(key) = err.path.first() {
                message.push_str(&format!(" (setting `{key}`: {})", expected_form(key)));
            }
            message
        })
    }
}

/// Returns the expected form of a setting, for error messages.
fn expected_form(key: &str) -> &'static str {
    match key {
        "listen" => "an IP address and port such as 127.0.0.1:8080",
        "data_dir" | "flows" | "cache_dir" => "a folder path",
        "max_body_bytes"
        | "max_concurrent_runs"
        | "max_concurrent_runs_per_project"
        | "max_headers"
        | "max_header_bytes"
        | "header_read_timeout_ms"
        | "body_read_timeout_ms"
        | "max_steps"
        | "step_timeout_ms"
        | "step_memory_mib"
        | "trigger_workers"
        | "trigger_max_attempts"
        | "trigger_backoff_ms"
        | "trigger_max_depth" => "a positive whole number",
        "audit_retention_days" => "a whole number of days, or 0 to keep audit events forever",
        "egress_timeout_ms" | "egress_max_response_bytes" => "a positive whole number",
        "secret_key" => {
            "32 random bytes in base64, such as the output of `openssl rand -base64 32`"
        }
        "egress_allowed_private" => {
            "a list of networks such as [\"127.0.0.1/32\"] (in the environment, write the list in TOML form)"
        }
        _ => "see `sluice serve --help`",
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure's error type"
)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "sluice.toml",
                "max_steps = 50\nlisten = \"127.0.0.1:9000\"\n",
            )?;
            jail.set_env("SLUICE_LISTEN", "127.0.0.1:9001");
            let flags = FlagOverrides {
                data_dir: Some(PathBuf::from("/tmp/flag")),
                ..FlagOverrides::default()
            };
            let config = ServerConfig::load(Some(Path::new("sluice.toml")), &flags)
                .map_err(|e| e.to_string())?;
            assert_eq!(config.max_steps, 50);
            assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9001)));
            assert_eq!(config.data_dir, PathBuf::from("/tmp/flag"));
            assert_eq!(config.max_body_bytes, 1 << 20);
            Ok(())
        });
    }

    #[test]
    fn invalid_env_setting_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_MAX_STEPS", "lots");
            let err =
                ServerConfig::load(None, &FlagOverrides::default()).expect_err("invalid number");
            assert!(err.contains("max_steps"), "message: {err}");
            assert!(err.contains("positive whole number"), "message: {err}");
            Ok(())
        });
    }

    #[test]
    fn missing_config_file_is_named() {
        let err = ServerConfig::load(
            Some(Path::new("/nonexistent/sluice.toml")),
            &FlagOverrides::default(),
        )
        .expect_err("missing file");
        assert!(err.contains("/nonexistent/sluice.toml"), "message: {err}");
    }

    #[test]
    fn unknown_file_setting_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sluice.toml", "lisen = \"127.0.0.1:1\"\n")?;
            let err = ServerConfig::load(Some(Path::new("sluice.toml")), &FlagOverrides::default())
                .expect_err("unknown key");
            assert!(err.contains("lisen"), "message: {err}");
            Ok(())
        });
    }
}
