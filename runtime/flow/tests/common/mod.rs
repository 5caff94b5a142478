//! A fixed component catalog that replaces the host's catalog in tests.

use sluice_flow::{ComponentCatalog, World};

/// Components every test flow may use, with their worlds.
const COMPONENTS: [(&str, World); 12] = [
    ("builtin:condition", World::Condition),
    ("builtin:load-user", World::Action),
    ("builtin:update-user", World::Action),
    ("builtin:delete-user", World::Action),
    ("builtin:create-tenant", World::Action),
    ("builtin:update-tenant", World::Action),
    ("builtin:update-consent", World::Action),
    ("builtin:generate-audit-event", World::Action),
    ("acme/slack@1.2.0", World::Connector),
    ("acme/slack@1.3.0", World::Connector),
    ("acme/crm-lookup@2.0.0", World::Connector),
    ("file:./components/check-domain.wasm", World::Condition),
];

/// The catalog of [`COMPONENTS`].
pub struct TestCatalog;

impl ComponentCatalog for TestCatalog {
    fn world(&self, reference: &str) -> Option<World> {
        COMPONENTS
            .iter()
            .find(|(name, _)| *name == reference)
            .map(|(_, world)| *world)
    }

    fn references(&self) -> Vec<String> {
        COMPONENTS
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }
}
