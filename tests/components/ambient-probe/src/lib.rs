//! Test fixture: an action that looks for ambient authority a component
//! must not have, so engine tests can check that the host grants none.
//!
//! It lists environment variables and arguments, reads `/etc/passwd`, the
//! current folder and the root folder, opens a TCP connection to the
//! address in its config, and loads a user by the login id in its config.
//! Each probe is reported, never turned into a step error:
//!
//! ```json
//! {"env": [], "args": [], "passwd": {"error": "..."}, "cwd": {"error": "..."},
//!  "currentDir": {"error": "..."}, "rootDir": {"error": "..."},
//!  "socket": {"error": "..."}, "user": {"error": "not-found", "message": "..."}}
//! ```
//!
//! A probe that succeeds reports `{"ok": <what it saw>}` instead.
//!
//! Config: `{"socket": "127.0.0.1:4000", "loginId": "ada@example.com"}`.

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, StepError, users};

/// The probing action.
pub struct AmbientProbe;

impl Action for AmbientProbe {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let text = |field: &str| {
            config
                .get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| StepError::invalid_config(format!("missing config field `{field}`")))
        };
        let socket: SocketAddr = text("socket")?.parse().map_err(|err| {
            StepError::invalid_config(format!("invalid config field `socket`: {err}"))
        })?;
        let login_id = text("loginId")?;

        let env: Vec<String> = std::env::vars_os()
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        let args: Vec<String> = std::env::args_os()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        Ok(ActionOutput::value(json!({
            "env": env,
            "args": args,
            "passwd": report(std::fs::read_to_string("/etc/passwd").map(|text| text.len())),
            "cwd": report(std::env::current_dir().map(|dir| dir.display().to_string())),
            "currentDir": report(list(".")),
            "rootDir": report(list("/")),
            "socket": report(connect(socket)),
            "user": match users::load_by_login_id(login_id) {
                Ok(user) => json!({"ok": user.user_id}),
                Err(err) => json!({"error": err.kind(), "message": err.message()}),
            },
        })))
    }
}

/// Returns the names in a folder.
fn list(path: &str) -> std::io::Result<Vec<String>> {
    std::fs::read_dir(path)?
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect()
}

/// Connects to `address` and reads what the peer sends first.
fn connect(address: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    let mut greeting = String::new();
    stream.read_to_string(&mut greeting)?;
    Ok(greeting)
}

fn report<T: serde::Serialize>(result: std::io::Result<T>) -> Value {
    match result {
        Ok(value) => json!({"ok": value}),
        Err(err) => json!({"error": err.to_string()}),
    }
}

sluice_sdk::export_action!(AmbientProbe);
