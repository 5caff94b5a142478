//! Flow fixtures: every file in `tests/valid` must validate, and every file in
//! `tests/invalid` must produce exactly the problems in its `.err` file.
//! `BLESS=1 cargo test -p sluice-flow` rewrites the `.err` files.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::TestCatalog;
use sluice_flow::{format_problems, validate};

fn fixtures(folder: &str) -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(folder);
    let mut files: Vec<PathBuf> = fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", folder.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", folder.display());
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

#[test]
fn valid_fixtures_have_no_problems() {
    let mut failures = Vec::new();
    for path in fixtures("valid") {
        if let Err(problems) = validate(&read(&path), &TestCatalog) {
            failures.push(format!(
                "{}:\n{}",
                path.display(),
                format_problems(&problems)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "valid fixtures with problems:\n{}",
        failures.join("\n")
    );
}

#[test]
fn invalid_fixtures_match_err_files() {
    let bless = std::env::var_os("BLESS").is_some_and(|value| value == "1");
    let mut failures = Vec::new();
    for path in fixtures("invalid") {
        let actual = match validate(&read(&path), &TestCatalog) {
            Ok(_) => "the flow is valid\n".to_owned(),
            Err(problems) => format_problems(&problems),
        };
        let err_path = path.with_extension("err");
        if bless {
            fs::write(&err_path, &actual)
                .unwrap_or_else(|error| panic!("cannot write {}: {error}", err_path.display()));
            continue;
        }
        let expected = fs::read_to_string(&err_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}\n--- expected ({})\n{expected}--- actual\n{actual}",
                path.display(),
                err_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "fixtures whose problems changed (rerun with BLESS=1 to accept):\n\n{}",
        failures.join("\n")
    );
}
