//! Size of the data a guest passes in one host call, for the per-call data
//! limit.
//!
//! The size is the bytes of every string argument and every string inside a
//! record or list, JSON text included. Numbers, flags and enum cases count
//! as nothing, because they cannot carry a payload of any size.

use crate::engine::bindings::types::{
    NewAuditEvent, NewUser, Tenant, UserPatch, UserQuery, UserTenant,
};

/// Data a host-call argument carries, in bytes.
pub(crate) trait PayloadBytes {
    /// Returns the bytes of text this value carries.
    fn payload_bytes(&self) -> usize;
}

impl PayloadBytes for String {
    fn payload_bytes(&self) -> usize {
        self.len()
    }
}

impl PayloadBytes for str {
    fn payload_bytes(&self) -> usize {
        self.len()
    }
}

impl<T: PayloadBytes> PayloadBytes for Option<T> {
    fn payload_bytes(&self) -> usize {
        self.as_ref().map_or(0, PayloadBytes::payload_bytes)
    }
}

impl<T: PayloadBytes> PayloadBytes for [T] {
    fn payload_bytes(&self) -> usize {
        self.iter()
            .map(PayloadBytes::payload_bytes)
            .fold(0, usize::saturating_add)
    }
}

impl<T: PayloadBytes> PayloadBytes for Vec<T> {
    fn payload_bytes(&self) -> usize {
        self.as_slice().payload_bytes()
    }
}

impl PayloadBytes for UserTenant {
    fn payload_bytes(&self) -> usize {
        sum(&[
            self.tenant_id.payload_bytes(),
            self.tenant_name.payload_bytes(),
            self.role_names.payload_bytes(),
        ])
    }
}

impl PayloadBytes for NewUser {
    fn payload_bytes(&self) -> usize {
        sum(&[
            self.login_id.payload_bytes(),
            self.additional_login_ids.payload_bytes(),
            self.email.payload_bytes(),
            self.phone.payload_bytes(),
            self.name.payload_bytes(),
            self.given_name.payload_bytes(),
            self.family_name.payload_bytes(),
            self.role_names.payload_bytes(),
            self.user_tenants.payload_bytes(),
            self.custom_attributes.payload_bytes(),
        ])
    }
}

impl PayloadBytes for UserPatch {
    fn payload_bytes(&self) -> usize {
        sum(&[
            self.email.payload_bytes(),
            self.phone.payload_bytes(),
            self.name.payload_bytes(),
            self.given_name.payload_bytes(),
            self.family_name.payload_bytes(),
            self.custom_attributes.payload_bytes(),
        ])
    }
}

impl PayloadBytes for UserQuery {
    fn payload_bytes(&self) -> usize {
        sum(&[
            self.login_ids.payload_bytes(),
            self.tenant_ids.payload_bytes(),
            self.role_names.payload_bytes(),
            self.text.payload_bytes(),
        ])
    }
}

impl PayloadBytes for Tenant {
    fn payload_bytes(&self) -> usize {
        sum(&[
            self.id.payload_bytes(),
            self.name.payload_bytes(),
            self.self_provisioning_domains.payload_bytes(),
            self.custom_attributes.payload_bytes(),
        ])
    }
}

impl PayloadBytes for NewAuditEvent {
    fn payload_bytes(&self) -> usize {
        sum(&[
            self.action.payload_bytes(),
            self.user_id.payload_bytes(),
            self.tenants.payload_bytes(),
            self.data.payload_bytes(),
        ])
    }
}

fn sum(parts: &[usize]) -> usize {
    parts.iter().copied().fold(0, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_event_counts_every_string() {
        let event = NewAuditEvent {
            action: "Acted".to_owned(),
            type_: crate::engine::bindings::types::AuditType::Info,
            user_id: Some("U1".to_owned()),
            tenants: vec!["t1".to_owned(), "tenant2".to_owned()],
            data: "{\"a\":1}".to_owned(),
        };

        assert_eq!(event.payload_bytes(), 5 + 2 + 2 + 7 + 7);
    }

    #[test]
    fn absent_fields_count_nothing() {
        let patch = UserPatch {
            email: None,
            phone: None,
            name: Some("Ada".to_owned()),
            given_name: None,
            family_name: None,
            verified_email: Some(true),
            verified_phone: None,
            custom_attributes: None,
        };

        assert_eq!(patch.payload_bytes(), 3);
    }
}
