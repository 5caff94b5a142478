//! On-disk cache of compiled components, keyed by the engine's
//! compatibility hash and the component's digest, so a restart does not
//! recompile.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use wasmtime::component::Component;

use super::LoadError;

pub(crate) struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// Opens the cache folder for this engine's configuration: a subfolder
    /// named after the compatibility hash, so artifacts of another wasmtime
    /// version or setting are never read.
    pub(crate) fn open(root: PathBuf, engine: &wasmtime::Engine) -> Result<Self, LoadError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir).map_err(|err| LoadError::Cache {
            path: dir.display().to_string(),
            reason: format!("cannot create the folder: {err}"),
        })?;
        Ok(Self { dir })
    }

    /// Returns the cached compilation of the component with `digest`, or
    /// compiles it and stores the result. A cache file that cannot be read
    /// is replaced, since the bytes it came from are at hand.
    pub(crate) fn get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        digest: &str,
        compile: impl FnOnce() -> Result<Component, LoadError>,
    ) -> Result<Component, LoadError> {
        let path = self.dir.join(format!("{digest}.cwasm"));
        if path.exists() {
            #[expect(
                unsafe_code,
                reason = "deserializing trusts the file; the cache folder is written only by this \
                          process with artifacts from Component::serialize of the same engine config"
            )]
            // SAFETY: the file was written by `Component::serialize` below under
            // a folder keyed by this engine's compatibility hash, and is named
            // by the digest of its source bytes.
            let cached = unsafe { Component::deserialize_file(engine, &path) };
            match cached {
                Ok(component) => return Ok(component),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "Replacing unreadable cached component")
                }
            }
        }
        let component = compile()?;
        let cache_error = |reason: String| LoadError::Cache {
            path: path.display().to_string(),
            reason,
        };
        let bytes = component
            .serialize()
            .map_err(|err| cache_error(format!("cannot serialize: {err}")))?;
        // Write to a temporary name and rename, so a reader never sees half a
        // file. The name is unique per write, because two engines of one
        // process may compile the same component at once.
        let temporary = self.dir.join(format!(
            "{digest}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&temporary, bytes)
            .map_err(|err| cache_error(format!("cannot write: {err}")))?;
        std::fs::rename(&temporary, &path)
            .map_err(|err| cache_error(format!("cannot rename: {err}")))?;
        Ok(component)
    }
}
