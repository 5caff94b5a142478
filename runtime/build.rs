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
const GUEST_STACK_BYTES: u32 = 64 * 1024;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("runtime/ sits inside the workspace").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Guests go under the same target folder as the host build, so a
    // CARGO_TARGET_DIR chosen by the user is respected.
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("wasm-guests");

    for watched in ["wit", "sdk", "components", "tests/components", "examples", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let members = workspace_members(&root);
    let mut builtins = String::new();
    let mut others = String::new();
    for (folder, prefix) in GUEST_FOLDERS {
        for (name, package) in guest_crates(&members, &root.join(folder)) {
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

/// Returns (folder name, package name) of every workspace member directly
/// under `folder`, sorted. Crates that are not workspace members are skipped.
fn guest_crates(members: &[(PathBuf, String)], folder: &Path) -> Vec<(String, String)> {
    let mut crates: Vec<(String, String)> = members
        .iter()
        .filter(|(dir, _)| dir.parent() == Some(folder))
        .filter_map(|(dir, package)| Some((dir.file_name()?.to_string_lossy().into_owned(), package.clone())))
        .collect();
    crates.sort();
    crates
}

/// Returns the folder and package name of every workspace member, from
/// `cargo metadata`.
fn workspace_members(root: &Path) -> Vec<(PathBuf, String)> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run `cargo metadata`: {err}"));
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    packages
        .iter()
        .filter_map(|package| {
            let name = package["name"].as_str()?.to_owned();
            let manifest = PathBuf::from(package["manifest_path"].as_str()?);
            Some((manifest.parent()?.to_path_buf(), name))
        })
        .collect()
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
        "building guest component `{package}` for wasm32-wasip2 failed: the compiler's errors are \
         above. Every workspace crate under components/, tests/components/ and examples/ is built \
         with the host. If the errors say the target is missing, run `rustup target add wasm32-wasip2`"
    );
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("wasm")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(wasm.exists(), "cargo built `{package}` but {} is missing", wasm.display());
    wasm
}
