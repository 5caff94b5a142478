//! `sluice component publish`: uploads a component and its manifest to a
//! running server.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::publish::ComponentManifest;

/// Arguments of `sluice component publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The component, a `.wasm` file built for `wasm32-wasip2`.
    file: PathBuf,
    /// The manifest, a TOML file with `id`, `version`, `world` and the
    /// optional `egress`, `secrets`, `config`, `description` and `[limits]`.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// Base URL of the Sluice server.
    #[arg(long, env = "SLUICE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Project id; the server's project when taken from the environment.
    #[arg(long, env = "SLUICE_PROJECT_ID", hide_env_values = true)]
    project: String,
    /// Management key of the project.
    #[arg(long, env = "SLUICE_MANAGEMENT_KEY", hide_env_values = true)]
    key: String,
}

/// Reads, checks and uploads the component; returns the exit code.
pub fn publish(args: &PublishArgs) -> u8 {
    let manifest_text = match std::fs::read_to_string(&args.manifest) {
        Ok(text) => text,
        Err(err) => {
            eprintln!(
                "error: cannot read manifest {}: {err}",
                args.manifest.display()
            );
            return EXIT_USAGE;
        }
    };
    let manifest: ComponentManifest = match toml::from_str(&manifest_text) {
        Ok(manifest) => manifest,
        Err(err) => {
            eprintln!("error: invalid manifest {}: {err}", args.manifest.display());
            return EXIT_USAGE;
        }
    };
    let problems = manifest.problems();
    if !problems.is_empty() {
        eprintln!("error: invalid manifest {}:", args.manifest.display());
        for problem in problems {
            eprintln!("  - {problem}");
        }
        return EXIT_USAGE;
    }
    let wasm = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!(
                "error: cannot read component {}: {err}",
                args.file.display()
            );
            return EXIT_USAGE;
        }
    };
    let body = json!({
        "manifest": manifest,
        "wasm": base64::engine::general_purpose::STANDARD.encode(&wasm),
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!(
        "{}/v1/mgmt/component/publish",
        args.url.trim_end_matches('/')
    );
    let response = agent
        .post(&url)
        .header(
            "Authorization",
            &format!("Bearer {}:{}", args.project, args.key),
        )
        .send_json(&body);
    let mut response = match response {
        Ok(response) => response,
        Err(err) => {
            eprintln!(
                "error: cannot reach {url}: {err}; check --url and that `sluice serve` runs there"
            );
            return EXIT_FAILED;
        }
    };
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let reply: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status != 200 {
        let message = reply["errorMessage"]
            .as_str()
            .map_or_else(|| reply.to_string(), str::to_owned);
        eprintln!(
            "error: publishing {} failed ({status}): {message}",
            manifest.reference()
        );
        return EXIT_FAILED;
    }
    println!(
        "Published {} (sha256 {})",
        reply["reference"].as_str().unwrap_or_default(),
        reply["digest"].as_str().unwrap_or_default()
    );
    0
}
