//! Builds the guest components of the workspace for `wasm32-wasip2` and
//! embeds the built-in ones in the host binary.
//!
//! Each guest crate is built by its own `cargo build` call, because a guest
//! enables exactly one world feature of `sluice-sdk` and cargo would unify the
//! features of crates built together. The builds use a target folder of their
//! own, so they never wait on the lock of the build that runs this script.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest folders and the reference prefix their components get.
const GUEST_FOLDERS: [(&str, &str); 3] = [
    ("components", "builtin:"),
    ("tests/components", "fixture:"),
    ("examples", "example:"),
];

/// Linear memory given to each guest's stack. Rust's default of 1 MiB makes
/// every instantiation zero and map memory the step never touches.
const GUEST_STACK_BYTES: u32 = 128 * 1024;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("runtime/ sits inside the workspace").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = root.join("target").join("wasm-guests");

    for watched in ["wit", "sdk", "components", "tests/components", "examples", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut builtins = String::new();
    let mut others = String::new();
    for (folder, prefix) in GUEST_FOLDERS {
        for (name, package) in guest_crates(&root.join(folder)) {
            let wasm = build_guest(&root, &target_dir, &package);
            let reference = format!("{prefix}{name}");
            let line = format!("    ({reference:?}, {:?}),\n", wasm.display().to_string());
            if prefix == "builtin:" {
                writeln!(builtins, "    ({reference:?}, include_bytes!({:?})),", wasm.display().to_string())
                    .expect("writing to a String cannot fail");
            } else {
                others.push_str(&line);
            }
        }
    }

    let generated = format!(
        "/// Built-in components: reference and component bytes.\n\
         pub const BUILTIN_COMPONENTS: &[(&str, &[u8])] = &[\n{builtins}];\n\n\
         /// Test fixtures and examples built with the host: reference and path of the `.wasm` file.\n\
         pub const GUEST_FILES: &[(&str, &str)] = &[\n{others}];\n"
    );
    fs::write(out_dir.join("guests.rs"), generated).expect("OUT_DIR is writable");
}

/// Returns (folder name, package name) of every crate directly under `folder`.
fn guest_crates(folder: &Path) -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut crates: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let manifest = fs::read_to_string(entry.path().join("Cargo.toml")).ok()?;
            let package = package_name(&manifest)?;
            Some((entry.file_name().to_string_lossy().into_owned(), package))
        })
        .collect();
    crates.sort();
    crates
}

/// Reads `name = "..."` from the `[package]` table of a manifest.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_owned());
        }
    }
    None
}

fn build_guest(root: &Path, target_dir: &Path, package: &str) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--quiet", "--target", "wasm32-wasip2", "--profile", "wasm", "-p", package])
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", format!("-Clink-arg=-zstack-size={GUEST_STACK_BYTES}"));
    for inherited in ["RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "CARGO_BUILD_RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER"] {
        command.env_remove(inherited);
    }
    let status = command.status().unwrap_or_else(|err| panic!("cannot run cargo to build guest `{package}`: {err}"));
    assert!(
        status.success(),
        "building guest component `{package}` for wasm32-wasip2 failed; if the target is missing, \
         run `rustup target add wasm32-wasip2`"
    );
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("wasm")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(wasm.exists(), "cargo built `{package}` but {} is missing", wasm.display());
    wasm
}
