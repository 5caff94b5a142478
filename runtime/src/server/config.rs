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
    /// Base URL that clients reach the server at, such as
    /// `https://sluice.example.com`; OAuth issuer URLs start with it. When
    /// unset, `http://` and the address the server listens on.
    pub public_url: Option<String>,
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
    /// Client registrations accepted per minute from one network address
    /// before the registration endpoint returns 429; 0 turns the limit off.
    pub registrations_per_minute: u32,
    /// Runs of one project that may execute at once before the API returns
    /// 429 to that project.
    pub max_concurrent_runs_per_project: usize,
    /// Maximum number of open client connections; more wait in the
    /// operating system's backlog until one closes.
    pub max_connections: usize,
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
    /// Highest wall-clock limit a flow step or manifest may set, in milliseconds.
    pub max_step_timeout_ms: u64,
    /// Default linear-memory limit of one step, in MiB.
    pub step_memory_mib: u64,
    /// Highest linear-memory limit a flow step or manifest may set, in MiB;
    /// also the size of each memory slot of the instance pool.
    pub max_step_memory_mib: u64,
    /// Default limit of a step's JSON output, in bytes.
    pub step_output_bytes: u64,
    /// Highest output limit a flow step or manifest may set, in bytes.
    pub max_step_output_bytes: u64,
    /// Default number of host calls one step may make.
    pub step_host_calls: u64,
    /// Highest host-call count a flow step or manifest may set.
    pub max_step_host_calls: u64,
    /// Default limit of the data a step passes in one host call, in bytes.
    pub step_host_call_bytes: u64,
    /// Highest per-call data limit a flow step or manifest may set, in bytes.
    pub max_step_host_call_bytes: u64,
    /// Instruction budget of one step in fuel units, and the highest a flow
    /// step or manifest may set; 0 turns fuel off, which makes steps faster.
    pub step_fuel: u64,
    /// Wall-clock limit of one run, retries included, in milliseconds, and
    /// the highest a flow's `limits.timeoutMs` may set.
    pub run_timeout_ms: u64,
    /// Native stack that Wasm code of a step may use, in KiB, from 16 to
    /// 1024; the same for every step.
    pub wasm_stack_kib: u64,
    /// Core instances (and linear memories) one step may create.
    pub step_max_instances: u64,
    /// Tables one step may create.
    pub step_max_tables: u64,
    /// Elements each table of a step may have.
    pub step_max_table_elements: u64,
    /// CPU time of one run, in milliseconds, above which the next runs of its
    /// flow start on threads of the lowest CPU priority; 0 turns this off.
    pub low_priority_cpu_ms: u64,
    /// How long a flow's runs keep the low priority after its last run above
    /// `low_priority_cpu_ms`, in seconds.
    pub low_priority_seconds: u64,
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
    /// PEM file of extra CA certificates for requests the host makes
    /// itself, such as fetches of Client ID Metadata Documents. Connector
    /// components do not use it.
    pub egress_extra_ca_file: Option<PathBuf>,
    /// Largest Client ID Metadata Document accepted, in bytes.
    pub cimd_max_document_bytes: u64,
    /// Minimum time a fetched Client ID Metadata Document is reused, in
    /// seconds, unless its response has `no-store` or `no-cache`.
    pub cimd_cache_min_ttl_secs: u64,
    /// Maximum time a fetched Client ID Metadata Document is reused, in seconds.
    pub cimd_cache_max_ttl_secs: u64,
    /// Maximum number of cached Client ID Metadata Document resolutions.
    pub cimd_cache_max_entries: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./sluice-data"),
            flows: None,
            cache_dir: None,
            max_body_bytes: 1 << 20,
            max_concurrent_runs: 64,
            registrations_per_minute: 20,
            max_concurrent_runs_per_project: 64,
            max_connections: 1_000,
            max_headers: 100,
            max_header_bytes: 32 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            max_steps: 1_000,
            step_timeout_ms: 1_000,
            max_step_timeout_ms: 30_000,
            step_memory_mib: 64,
            max_step_memory_mib: 256,
            step_output_bytes: 1 << 20,
            max_step_output_bytes: 16 << 20,
            step_host_calls: 1_000,
            max_step_host_calls: 100_000,
            step_host_call_bytes: 1 << 20,
            max_step_host_call_bytes: 16 << 20,
            step_fuel: 0,
            run_timeout_ms: 60_000,
            wasm_stack_kib: 512,
            step_max_instances: 50,
            step_max_tables: 20,
            step_max_table_elements: 20_000,
            low_priority_cpu_ms: 20,
            low_priority_seconds: 60,
            trigger_workers: 4,
            trigger_max_attempts: 5,
            trigger_backoff_ms: 1_000,
            trigger_max_depth: 8,
            audit_retention_days: 90,
            secret_key: None,
            egress_allowed_private: Vec::new(),
            egress_timeout_ms: 10_000,
            egress_max_response_bytes: 1 << 20,
            egress_extra_ca_file: None,
            cimd_max_document_bytes: crate::oauth::cimd::DEFAULT_MAX_DOCUMENT_BYTES,
            cimd_cache_min_ttl_secs: 60,
            cimd_cache_max_ttl_secs: 24 * 60 * 60,
            cimd_cache_max_entries: 10_000,
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
    /// Returns the public base URL without a trailing slash: `public_url`,
    /// or `http://` and `listening_on` when it is unset.
    ///
    /// # Errors
    ///
    /// Names the setting when `public_url` is not an absolute http or https
    /// URL, or has a path, query or fragment.
    pub fn public_base_url(&self, listening_on: SocketAddr) -> Result<String, String> {
        let Some(text) = &self.public_url else {
            return Ok(format!("http://{listening_on}"));
        };
        let fail = |reason: &str| {
            format!(
                "invalid setting `public_url`: {text:?} {reason}; write an absolute http or https URL such as \
                 \"https://sluice.example.com\""
            )
        };
        let url = url::Url::parse(text).map_err(|err| fail(&format!("is not a URL ({err})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(fail("is not an http or https URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("has a query or fragment"));
        }
        // RFC 8414 metadata lives at `/.well-known/...` on the host's root,
        // before the issuer's path, so a base URL with a path of its own
        // would advertise metadata that no client finds.
        if url.path() != "/" {
            return Err(fail("has a path: give the origin only, because OAuth metadata is served from the host's root"));
        }
        Ok(text.trim_end_matches('/').to_owned())
    }

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
const ENV_KEYS: [&str; 47] = [
    "registrations_per_minute",
    "listen",
    "public_url",
    "data_dir",
    "flows",
    "cache_dir",
    "max_body_bytes",
    "max_concurrent_runs",
    "max_concurrent_runs_per_project",
    "max_connections",
    "max_headers",
    "max_header_bytes",
    "header_read_timeout_ms",
    "body_read_timeout_ms",
    "max_steps",
    "step_timeout_ms",
    "max_step_timeout_ms",
    "step_memory_mib",
    "max_step_memory_mib",
    "step_output_bytes",
    "max_step_output_bytes",
    "step_host_calls",
    "max_step_host_calls",
    "step_host_call_bytes",
    "max_step_host_call_bytes",
    "step_fuel",
    "run_timeout_ms",
    "wasm_stack_kib",
    "step_max_instances",
    "step_max_tables",
    "step_max_table_elements",
    "low_priority_cpu_ms",
    "low_priority_seconds",
    "trigger_workers",
    "trigger_max_attempts",
    "trigger_backoff_ms",
    "trigger_max_depth",
    "audit_retention_days",
    "secret_key",
    "egress_allowed_private",
    "egress_timeout_ms",
    "egress_max_response_bytes",
    "egress_extra_ca_file",
    "cimd_max_document_bytes",
    "cimd_cache_min_ttl_secs",
    "cimd_cache_max_ttl_secs",
    "cimd_cache_max_entries",
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
    /// Returns a message that names the invalid setting and the expected
    /// form, with where it came from for a value of the wrong type, or that
    /// the config file is missing.
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
        let config: Self = figment.extract().map_err(|mut err| {
            // Without a profile figment leaves out its own key name, such as
            // "default.max_steps", so the setting is named once, below.
            err.profile = None;
            let mut message = format!("invalid setting: {err}");
            if let Some(key) = err.path.first() {
                message.push_str(&format!(" (setting `{key}`: {})", expected_form(key)));
            }
            message
        })?;
        config.check_limits()?;
        Ok(config)
    }

    /// Checks the step and run limits against each other and their bounds.
    ///
    /// # Errors
    ///
    /// Names the setting that is out of range and the fix.
    pub fn check_limits(&self) -> Result<(), String> {
        let pairs = [
            ("step_timeout_ms", self.step_timeout_ms, "max_step_timeout_ms", self.max_step_timeout_ms),
            ("step_memory_mib", self.step_memory_mib, "max_step_memory_mib", self.max_step_memory_mib),
            ("step_output_bytes", self.step_output_bytes, "max_step_output_bytes", self.max_step_output_bytes),
            ("step_host_calls", self.step_host_calls, "max_step_host_calls", self.max_step_host_calls),
            (
                "step_host_call_bytes",
                self.step_host_call_bytes,
                "max_step_host_call_bytes",
                self.max_step_host_call_bytes,
            ),
        ];
        for (name, value, max_name, max) in pairs {
            if value == 0 {
                return Err(format!("invalid setting `{name}`: it must be positive"));
            }
            if value > max {
                return Err(format!(
                    "invalid setting `{name}`: {value} is above `{max_name}` ({max}); lower it or raise `{max_name}`"
                ));
            }
        }
        let positive = [
            ("run_timeout_ms", self.run_timeout_ms),
            ("step_max_instances", self.step_max_instances),
            ("step_max_tables", self.step_max_tables),
            ("step_max_table_elements", self.step_max_table_elements),
            ("low_priority_seconds", self.low_priority_seconds),
            ("max_connections", u64::try_from(self.max_connections).unwrap_or(u64::MAX)),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("invalid setting `{name}`: it must be positive"));
        }
        if !(MIN_WASM_STACK_KIB..=MAX_WASM_STACK_KIB).contains(&self.wasm_stack_kib) {
            return Err(format!(
                "invalid setting `wasm_stack_kib`: {} is outside {MIN_WASM_STACK_KIB} to {MAX_WASM_STACK_KIB}; \
                 steps run on threads with 2 MiB stacks, and host calls need the part Wasm code does not use",
                self.wasm_stack_kib
            ));
        }
        Ok(())
    }
}

/// Smallest `wasm_stack_kib`: less fails ordinary guests.
const MIN_WASM_STACK_KIB: u64 = 16;

/// Largest `wasm_stack_kib`: half of the 2 MiB stack of the Rust and tokio
/// threads that run steps, so host calls keep the other half.
const MAX_WASM_STACK_KIB: u64 = 1024;

/// Returns the expected form of a setting, for error messages.
fn expected_form(key: &str) -> &'static str {
    match key {
        "listen" => "an IP address and port such as 127.0.0.1:8080",
        "public_url" => "an http or https origin with no path, such as https://sluice.example.com",
        "data_dir" | "flows" | "cache_dir" => "a folder path",
        "max_body_bytes"
        | "max_concurrent_runs"
        | "max_concurrent_runs_per_project"
        | "max_connections"
        | "max_headers"
        | "max_header_bytes"
        | "header_read_timeout_ms"
        | "body_read_timeout_ms"
        | "max_steps"
        | "step_timeout_ms"
        | "max_step_timeout_ms"
        | "step_memory_mib"
        | "max_step_memory_mib"
        | "step_output_bytes"
        | "max_step_output_bytes"
        | "step_host_calls"
        | "max_step_host_calls"
        | "step_host_call_bytes"
        | "max_step_host_call_bytes"
        | "run_timeout_ms"
        | "step_max_instances"
        | "step_max_tables"
        | "step_max_table_elements"
        | "low_priority_seconds"
        | "trigger_workers"
        | "trigger_max_attempts"
        | "trigger_backoff_ms"
        | "trigger_max_depth" => "a positive whole number",
        "registrations_per_minute" => "a whole number of registrations per minute, or 0 for no limit",
        "audit_retention_days" => "a whole number of days, or 0 to keep audit events forever",
        "step_fuel" => "a whole number of fuel units, or 0 to turn fuel off",
        "low_priority_cpu_ms" => "a whole number of milliseconds, or 0 to keep every run at normal priority",
        "wasm_stack_kib" => "a whole number of KiB from 16 to 1024",
        "egress_timeout_ms"
        | "egress_max_response_bytes"
        | "cimd_max_document_bytes"
        | "cimd_cache_max_ttl_secs"
        | "cimd_cache_max_entries" => "a positive whole number",
        "cimd_cache_min_ttl_secs" => "a whole number of seconds, or 0 to follow `max-age` exactly",
        "egress_extra_ca_file" => "the path of a PEM file with one or more CA certificates",
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
    fn invalid_file_setting_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sluice.toml", "low_priority_cpu_ms = \"abc\"")?;
            let err = ServerConfig::load(Some(Path::new("sluice.toml")), &FlagOverrides::default())
                .expect_err("invalid number");
            assert!(err.contains("`low_priority_cpu_ms`"), "message: {err}");
            assert!(!err.contains("default."), "the figment profile is left out: {err}");
            assert!(err.contains("sluice.toml"), "the message names the file: {err}");
            assert!(err.contains("0 to keep every run at normal priority"), "message: {err}");
            Ok(())
        });
    }

    #[test]
    fn default_above_maximum_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_STEP_HOST_CALLS", "500");
            jail.set_env("SLUICE_MAX_STEP_HOST_CALLS", "100");
            let err = ServerConfig::load(None, &FlagOverrides::default()).expect_err("default above maximum");
            assert!(err.contains("`step_host_calls`"), "message: {err}");
            assert!(err.contains("`max_step_host_calls` (100)"), "message: {err}");
            Ok(())
        });
    }

    #[test]
    fn wasm_stack_out_of_range_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_WASM_STACK_KIB", "4096");
            let err = ServerConfig::load(None, &FlagOverrides::default()).expect_err("stack too large");
            assert!(err.contains("`wasm_stack_kib`"), "message: {err}");
            assert!(err.contains("16 to 1024"), "message: {err}");
            Ok(())
        });
    }

    #[test]
    fn limit_settings_read_from_env() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_STEP_FUEL", "5000000");
            jail.set_env("SLUICE_RUN_TIMEOUT_MS", "2500");
            jail.set_env("SLUICE_STEP_MAX_TABLES", "3");
            let config = ServerConfig::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.step_fuel, 5_000_000);
            assert_eq!(config.run_timeout_ms, 2_500);
            assert_eq!(config.step_max_tables, 3);
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
    fn public_url_defaults_to_listen_address() {
        let config = ServerConfig::default();
        let listening_on = SocketAddr::from(([127, 0, 0, 1], 40123));

        assert_eq!(config.public_base_url(listening_on), Ok("http://127.0.0.1:40123".to_owned()));
    }

    #[test]
    fn public_url_is_validated() {
        let listening_on = SocketAddr::from(([127, 0, 0, 1], 8080));
        let with = |url: &str| ServerConfig {
            public_url: Some(url.to_owned()),
            ..ServerConfig::default()
        };

        assert_eq!(with("https://sluice.example.com/").public_base_url(listening_on), Ok("https://sluice.example.com".to_owned()));
        for bad in ["sluice.example.com", "https://example.com/sluice", "ftp://example.com", "https://example.com/?x=1", "https://example.com/#top"] {
            let error = with(bad).public_base_url(listening_on).expect_err("invalid public_url");
            assert!(error.contains("public_url"), "{bad}: {error}");
        }
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
