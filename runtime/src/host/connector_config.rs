//! `sluice:flow/connector-config`: a connector's own settings and secrets.

use super::limit_trap;
use crate::engine::StepState;
use crate::engine::bindings::connector::sluice::flow::connector_config::Host;

impl Host for StepState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.host.charge("connector-config.get", key.len()).map_err(|_| limit_trap())?;
        Ok(self.host.context.connector.config.get(&key).cloned())
    }

    fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        self.host.charge("connector-config.secret", name.len()).map_err(|_| limit_trap())?;
        Ok(self.host.context.connector.secrets.get(&name).cloned())
    }
}
