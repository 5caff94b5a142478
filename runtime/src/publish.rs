//! Components that a project publishes: third-party actions, conditions and
//! connectors, each with a manifest, referenced by flows as
//! `publisher/name@version`.
//!
//! The host checks a component against the world its manifest names and
//! compiles it before storing it, so a published version always runs.
//! Versions are immutable: publishing the same version again is a conflict.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use sluice_flow::{ComponentCatalog, World};

use crate::engine::{Engine, LoadedComponent};
use crate::registry::ComponentRegistry;
use crate::store::{ComponentStore, StoreError};

/// A publisher's declarations about a component: identity, world, egress and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ComponentManifest {
    /// `publisher/name`, such as `acme/crm-sync`.
    pub id: String,
    /// Semantic version, such as `1.2.0`.
    pub version: String,
    /// `action`, `connector` or `condition`.
    pub world: String,
    /// Origins a connector may reach besides its instance's base URL, as
    /// `scheme://host:port`, with an optional leading `*.` label.
    #[serde(default)]
    pub egress: Vec<String>,
    /// Names of the instance secrets the component reads.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Names of the instance settings the component reads.
    #[serde(default)]
    pub config: Vec<String>,
    /// Default limits of the component's steps.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// Free text for operators.
    #[serde(default)]
    pub description: String,
}

/// Default limits a manifest sets; a flow step may lower or raise them
/// within the operator's maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ManifestLimits {
    /// Wall-clock limit of one step, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear-memory limit of one step, in MiB.
    pub memory_mib: Option<u64>,
    /// Instruction budget of one step, in fuel units; applied only when the
    /// operator turned fuel on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Output limit of one step, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Host calls one step may make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_calls: Option<u64>,
    /// Data one host call may carry, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_call_bytes: Option<u64>,
    /// Accepted only to be rejected with a reason: wasmtime sets the Wasm
    /// stack size for the whole engine, so a component cannot have its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_stack_kib: Option<u64>,
}

impl ComponentManifest {
    /// Returns the reference flows use: `publisher/name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// Returns the declared world.
    ///
    /// # Errors
    ///
    /// Names the field when the world is unknown.
    pub fn parsed_world(&self) -> Result<World, String> {
        self.world
            .parse::<World>()
            .map_err(|err| format!("`world`: {err}"))
    }

    /// Returns every problem of the manifest, each naming the field and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.id.contains('/') || self.id.contains('@') {
            problems.push(format!(
                "`id` {:?} must be publisher/name in lowercase letters, digits and -, such as \"acme/crm-sync\"",
                self.id
            ));
        } else if let Err(err) = sluice_flow::check_reference(&self.reference()) {
            problems.push(format!("`id` and `version`: {err}"));
        }
        let world = self.parsed_world();
        if let Err(err) = &world {
            problems.push(err.clone());
        }
        if !self.egress.is_empty() && world.as_ref().is_ok_and(|world| *world != World::Connector) {
            problems.push(
                "`egress` is only for connectors: actions and conditions make no HTTP requests"
                    .to_owned(),
            );
        }
        for entry in &self.egress {
            if !is_origin_pattern(entry) {
                problems.push(format!(
                    "`egress` entry {entry:?} is not an origin: write scheme://host:port, such as \
                     \"https://api.example.com:443\" or \"https://*.example.com:443\""
                ));
            }
        }
        let limits = &self.limits;
        let values = [
            limits.timeout_ms,
            limits.memory_mib,
            limits.fuel,
            limits.output_bytes,
            limits.host_calls,
            limits.host_call_bytes,
        ];
        if values.contains(&Some(0)) {
            problems.push("`limits` values must be positive".to_owned());
        }
        if limits.wasm_stack_kib.is_some() {
            problems.push(
                "`limits.wasm_stack_kib` cannot be set per component: wasmtime sets the Wasm stack \
                 size for the whole engine; remove it, and ask the operator to change the server \
                 setting `wasm_stack_kib` if the component needs a larger stack"
                    .to_owned(),
            );
        }
        problems
    }
}

/// Returns whether `entry` is `scheme://host:port` with an http scheme, a
/// host (optionally starting with `*.`) and an explicit port.
fn is_origin_pattern(entry: &str) -> bool {
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return false;
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    (scheme == "http" || scheme == "https")
        && port.parse::<u16>().is_ok_and(|port| port > 0)
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// A published component as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComponent {
    /// The manifest.
    pub manifest: ComponentManifest,
    /// The component's Wasm bytes.
    pub wasm: Vec<u8>,
    /// SHA-256 of the Wasm bytes, lowercase hex.
    pub digest: String,
    /// Publication time in Unix milliseconds.
    pub created: u64,
}

/// A published component, compiled and ready to run.
#[derive(Debug)]
pub struct PublishedComponent {
    /// The compiled component.
    pub component: Arc<LoadedComponent>,
    /// Its manifest.
    pub manifest: ComponentManifest,
}

/// The published components of every project, compiled on first use.
pub struct PublishedComponents {
    store: Arc<dyn ComponentStore>,
    engine: Arc<Engine>,
    loaded: RwLock<HashMap<(String, String), Arc<PublishedComponent>>>,
}

impl std::fmt::Debug for PublishedComponents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedComponents")
            .finish_non_exhaustive()
    }
}

impl PublishedComponents {
    /// Creates the set over `store`, compiling with `engine`.
    pub fn new(store: Arc<dyn ComponentStore>, engine: Arc<Engine>) -> Self {
        Self {
            store,
            engine,
            loaded: RwLock::new(HashMap::new()),
        }
    }

    /// Returns the engine that compiles the components.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Returns the store of the components.
    pub fn store(&self) -> &Arc<dyn ComponentStore> {
        &self.store
    }

    /// Returns a project's published component, compiling it on first use.
    ///
    /// # Errors
    ///
    /// Fails when the store fails or the stored component no longer
    /// compiles. Returns `Ok(None)` when the project has no such component.
    pub fn get(
        &self,
        project: &str,
        reference: &str,
    ) -> Result<Option<Arc<PublishedComponent>>, StoreError> {
        let key = (project.to_owned(), reference.to_owned());
        if let Some(found) = self
            .loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Some(Arc::clone(found)));
        }
        let Some((id, version)) = reference.split_once('@') else {
            return Ok(None);
        };
        let Some(stored) = self.store.load_component(project, id, version)? else {
            return Ok(None);
        };
        let component = self.engine.load(reference, &stored.wasm).map_err(|err| {
            StoreError::Backend(format!(
                "published component `{reference}` no longer loads: {err}"
            ))
        })?;
        let published = Arc::new(PublishedComponent {
            component: Arc::new(component),
            manifest: stored.manifest,
        });
        self.loaded
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&published));
        Ok(Some(published))
    }

    /// Forgets a compiled component after it was deleted.
    pub fn forget(&self, project: &str, reference: &str) {
        self.loaded
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(project.to_owned(), reference.to_owned()));
    }

    /// Returns the catalog that validates the project's flows: the host's
    /// components and the project's published ones.
    ///
    /// # Errors
    ///
    /// Fails when the store cannot list the published components.
    pub fn catalog<'r>(
        &self,
        project: &str,
        builtins: &'r ComponentRegistry,
    ) -> Result<ProjectCatalog<'r>, StoreError> {
        let published = self
            .store
            .list_components(project)?
            .into_iter()
            .filter_map(|manifest| Some((manifest.reference(), manifest.parsed_world().ok()?)))
            .collect();
        Ok(ProjectCatalog {
            builtins,
            published,
        })
    }
}

/// The components a project's flows may name.
#[derive(Debug)]
pub struct ProjectCatalog<'r> {
    builtins: &'r ComponentRegistry,
    published: BTreeMap<String, World>,
}

impl<'r> ProjectCatalog<'r> {
    /// Creates a catalog of the host's components and the published ones,
    /// given as reference to world.
    pub fn new(builtins: &'r ComponentRegistry, published: BTreeMap<String, World>) -> Self {
        Self {
            builtins,
            published,
        }
    }
}

impl ComponentCatalog for ProjectCatalog<'_> {
    fn world(&self, reference: &str) -> Option<World> {
        self.builtins
            .world(reference)
            .or_else(|| self.published.get(reference).copied())
    }

    fn references(&self) -> Vec<String> {
        let mut references = self.builtins.references();
        references.extend(self.published.keys().cloned());
        references
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> ComponentManifest {
        toml::from_str(text).expect("manifest parses")
    }

    #[test]
    fn valid_manifest_has_no_problems() {
        let parsed = manifest(
            "id = \"acme/crm-sync\"\nversion = \"1.2.0\"\nworld = \"connector\"\n\
             egress = [\"https://api.acme.test:443\", \"https://*.acme.test:443\"]\n\
             [limits]\ntimeout_ms = 2000\n",
        );
        assert_eq!(parsed.problems(), Vec::<String>::new());
        assert_eq!(parsed.reference(), "acme/crm-sync@1.2.0");
        assert_eq!(parsed.limits.timeout_ms, Some(2000));
    }

    #[test]
    fn each_problem_is_named() {
        let parsed = manifest(
            "id = \"Acme\"\nversion = \"one\"\nworld = \"action\"\negress = [\"api.acme.test\"]\n[limits]\nmemory_mib = 0\n",
        );
        let problems = parsed.problems().join("\n");
        assert!(problems.contains("`id`"), "{problems}");
        assert!(problems.contains("only for connectors"), "{problems}");
        assert!(problems.contains("not an origin"), "{problems}");
        assert!(problems.contains("`limits`"), "{problems}");
        let unknown = toml::from_str::<ComponentManifest>(
            "id = \"a/b\"\nversion = \"1.0.0\"\nworld = \"action\"\ncolour = 1\n",
        )
        .expect_err("unknown field");
        assert!(unknown.to_string().contains("colour"), "{unknown}");
    }
}
