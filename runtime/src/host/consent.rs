//! `sluice:flow/consent`: grant and revoke a user's consent per application.

use super::PayloadBytes;
use super::HostError;
use crate::engine::StepState;
use crate::engine::bindings::action::sluice::flow::consent::Host;

impl Host for StepState {
    fn grant(&mut self, user_id: String, app_id: String, scopes: Vec<String>) -> Result<Vec<String>, HostError> {
        let bytes = user_id.len().saturating_add(app_id.len()).saturating_add(scopes.payload_bytes());
        self.host.charge("consent.grant", bytes)?;
        let ctx = &self.host.context;
        Ok(ctx
            .store
            .grant_consent(&ctx.project, &user_id, &app_id, &scopes, &ctx.actor)?)
    }

    fn revoke(&mut self, user_id: String, app_id: String, scopes: Vec<String>) -> Result<Vec<String>, HostError> {
        let bytes = user_id.len().saturating_add(app_id.len()).saturating_add(scopes.payload_bytes());
        self.host.charge("consent.revoke", bytes)?;
        let ctx = &self.host.context;
        Ok(ctx
            .store
            .revoke_consent(&ctx.project, &user_id, &app_id, &scopes, &ctx.actor)?)
    }
}
