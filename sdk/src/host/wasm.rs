//! Host calls through the generated bindings, with conversions between the
//! WIT records (JSON carried as text) and the SDK's serde types.

use crate::__private::bindings::sluice::flow::types as wit;
use crate::error::StepError;
#[cfg(feature = "action")]
use crate::types::{
    AuditEvent, AuditType, JsonObject, NewAuditEvent, NewUser, Tenant, User, UserPage, UserPatch,
    UserQuery, UserStatus, UserTenant,
};
#[cfg(feature = "action")]
use serde_json::Value;

#[cfg(feature = "action")]
pub(crate) fn error_from_wit(error: wit::StepError) -> StepError {
    match error {
        wit::StepError::InvalidConfig(message) => StepError::InvalidConfig(message),
        wit::StepError::NotFound(message) => StepError::NotFound(message),
        wit::StepError::Denied(message) => StepError::Denied(message),
        wit::StepError::UpstreamFailure(message) => StepError::UpstreamFailure(message),
        wit::StepError::Internal(message) => StepError::Internal(message),
    }
}

pub(crate) fn error_to_wit(error: StepError) -> wit::StepError {
    match error {
        StepError::InvalidConfig(message) => wit::StepError::InvalidConfig(message),
        StepError::NotFound(message) => wit::StepError::NotFound(message),
        StepError::Denied(message) => wit::StepError::Denied(message),
        StepError::UpstreamFailure(message) => wit::StepError::UpstreamFailure(message),
        StepError::Internal(message) => wit::StepError::Internal(message),
    }
}

/// Conversions of the user, tenant and audit records, which only the action
/// world passes.
#[cfg(feature = "action")]
mod records {
    use super::*;

    /// Reads a JSON object the host sent as text. Empty text is an empty object.
    pub(crate) fn object_from_wit(text: &str, description: &str) -> Result<JsonObject, StepError> {
        if text.trim().is_empty() {
            return Ok(JsonObject::new());
        }
        match serde_json::from_str(text) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) | Err(_) => Err(StepError::internal(format!(
                "the host returned {description} that is not a JSON object: {text}"
            ))),
        }
    }

    pub(crate) fn object_to_wit(object: &JsonObject) -> String {
        Value::Object(object.clone()).to_string()
    }

    pub(crate) fn status_from_wit(status: wit::UserStatus) -> UserStatus {
        match status {
            wit::UserStatus::Enabled => UserStatus::Enabled,
            wit::UserStatus::Disabled => UserStatus::Disabled,
            wit::UserStatus::Invited => UserStatus::Invited,
            wit::UserStatus::Expired => UserStatus::Expired,
        }
    }

    pub(crate) fn status_to_wit(status: UserStatus) -> wit::UserStatus {
        match status {
            UserStatus::Enabled => wit::UserStatus::Enabled,
            UserStatus::Disabled => wit::UserStatus::Disabled,
            UserStatus::Invited => wit::UserStatus::Invited,
            UserStatus::Expired => wit::UserStatus::Expired,
        }
    }

    pub(crate) fn audit_type_from_wit(audit_type: wit::AuditType) -> AuditType {
        match audit_type {
            wit::AuditType::Info => AuditType::Info,
            wit::AuditType::Warn => AuditType::Warn,
            wit::AuditType::Error => AuditType::Error,
        }
    }

    pub(crate) fn audit_type_to_wit(audit_type: AuditType) -> wit::AuditType {
        match audit_type {
            AuditType::Info => wit::AuditType::Info,
            AuditType::Warn => wit::AuditType::Warn,
            AuditType::Error => wit::AuditType::Error,
        }
    }

    pub(crate) fn user_tenant_from_wit(membership: wit::UserTenant) -> UserTenant {
        UserTenant {
            tenant_id: membership.tenant_id,
            tenant_name: membership.tenant_name,
            role_names: membership.role_names,
        }
    }

    pub(crate) fn user_tenant_to_wit(membership: &UserTenant) -> wit::UserTenant {
        wit::UserTenant {
            tenant_id: membership.tenant_id.clone(),
            tenant_name: membership.tenant_name.clone(),
            role_names: membership.role_names.clone(),
        }
    }

    pub(crate) fn user_from_wit(user: wit::User) -> Result<User, StepError> {
        Ok(User {
            custom_attributes: object_from_wit(&user.custom_attributes, "user custom attributes")?,
            user_id: user.user_id,
            login_ids: user.login_ids,
            email: user.email,
            phone: user.phone,
            name: user.name,
            given_name: user.given_name,
            family_name: user.family_name,
            status: status_from_wit(user.status),
            verified_email: user.verified_email,
            verified_phone: user.verified_phone,
            role_names: user.role_names,
            user_tenants: user
                .user_tenants
                .into_iter()
                .map(user_tenant_from_wit)
                .collect(),
            created_time: user.created_time,
        })
    }

    pub(crate) fn user_to_wit(user: &User) -> wit::User {
        wit::User {
            user_id: user.user_id.clone(),
            login_ids: user.login_ids.clone(),
            email: user.email.clone(),
            phone: user.phone.clone(),
            name: user.name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            status: status_to_wit(user.status),
            verified_email: user.verified_email,
            verified_phone: user.verified_phone,
            role_names: user.role_names.clone(),
            user_tenants: user.user_tenants.iter().map(user_tenant_to_wit).collect(),
            custom_attributes: object_to_wit(&user.custom_attributes),
            created_time: user.created_time,
        }
    }

    pub(crate) fn new_user_to_wit(user: &NewUser) -> wit::NewUser {
        wit::NewUser {
            login_id: user.login_id.clone(),
            additional_login_ids: user.additional_login_ids.clone(),
            email: user.email.clone(),
            phone: user.phone.clone(),
            name: user.name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            status: user.status.map(status_to_wit),
            verified_email: user.verified_email,
            verified_phone: user.verified_phone,
            role_names: user.role_names.clone(),
            user_tenants: user.user_tenants.iter().map(user_tenant_to_wit).collect(),
            custom_attributes: object_to_wit(&user.custom_attributes),
        }
    }

    pub(crate) fn patch_to_wit(patch: &UserPatch) -> wit::UserPatch {
        wit::UserPatch {
            email: patch.email.clone(),
            phone: patch.phone.clone(),
            name: patch.name.clone(),
            given_name: patch.given_name.clone(),
            family_name: patch.family_name.clone(),
            verified_email: patch.verified_email,
            verified_phone: patch.verified_phone,
            custom_attributes: patch.custom_attributes.as_ref().map(object_to_wit),
        }
    }

    pub(crate) fn query_to_wit(query: &UserQuery) -> wit::UserQuery {
        wit::UserQuery {
            login_ids: query.login_ids.clone(),
            statuses: query.statuses.iter().copied().map(status_to_wit).collect(),
            tenant_ids: query.tenant_ids.clone(),
            role_names: query.role_names.clone(),
            text: query.text.clone(),
            page: query.page,
            limit: query.limit,
        }
    }

    pub(crate) fn tenant_from_wit(tenant: wit::Tenant) -> Result<Tenant, StepError> {
        Ok(Tenant {
            custom_attributes: object_from_wit(
                &tenant.custom_attributes,
                "tenant custom attributes",
            )?,
            id: tenant.id,
            name: tenant.name,
            self_provisioning_domains: tenant.self_provisioning_domains,
        })
    }

    pub(crate) fn tenant_to_wit(tenant: &Tenant) -> wit::Tenant {
        wit::Tenant {
            id: tenant.id.clone(),
            name: tenant.name.clone(),
            self_provisioning_domains: tenant.self_provisioning_domains.clone(),
            custom_attributes: object_to_wit(&tenant.custom_attributes),
        }
    }

    pub(crate) fn audit_event_from_wit(event: wit::AuditEvent) -> Result<AuditEvent, StepError> {
        Ok(AuditEvent {
            data: object_from_wit(&event.data, "audit event data")?,
            id: event.id,
            action: event.action,
            audit_type: audit_type_from_wit(event.type_),
            occurred: event.occurred,
            actor_id: event.actor_id,
            user_id: event.user_id,
            tenants: event.tenants,
            remote_address: event.remote_address,
        })
    }

    pub(crate) fn new_audit_event_to_wit(event: &NewAuditEvent) -> wit::NewAuditEvent {
        wit::NewAuditEvent {
            action: event.action.clone(),
            type_: audit_type_to_wit(event.audit_type),
            user_id: event.user_id.clone(),
            tenants: event.tenants.clone(),
            data: object_to_wit(&event.data),
        }
    }
}

#[cfg(feature = "action")]
pub(crate) use records::*;

#[cfg(feature = "action")]
pub(crate) mod users {
    use super::*;
    use crate::__private::bindings::sluice::flow::users as host;

    fn user(result: Result<wit::User, wit::StepError>) -> Result<User, StepError> {
        result.map_err(error_from_wit).and_then(user_from_wit)
    }

    pub(crate) fn load_by_login_id(login_id: &str) -> Result<User, StepError> {
        user(host::load_by_login_id(login_id))
    }

    pub(crate) fn load(user_id: &str) -> Result<User, StepError> {
        user(host::load(user_id))
    }

    pub(crate) fn create(new_user: &NewUser) -> Result<User, StepError> {
        user(host::create(&new_user_to_wit(new_user)))
    }

    pub(crate) fn update(user_id: &str, new_user: &NewUser) -> Result<User, StepError> {
        user(host::update(user_id, &new_user_to_wit(new_user)))
    }

    pub(crate) fn patch(user_id: &str, patch: &UserPatch) -> Result<User, StepError> {
        user(host::patch(user_id, &patch_to_wit(patch)))
    }

    pub(crate) fn delete(user_id: &str) -> Result<(), StepError> {
        host::delete(user_id).map_err(error_from_wit)
    }

    pub(crate) fn set_status(user_id: &str, status: UserStatus) -> Result<User, StepError> {
        user(host::set_status(user_id, status_to_wit(status)))
    }

    pub(crate) fn set_custom_attribute(
        user_id: &str,
        key: &str,
        value: &Value,
    ) -> Result<User, StepError> {
        user(host::set_custom_attribute(user_id, key, &value.to_string()))
    }

    pub(crate) fn set_roles(
        user_id: &str,
        tenant_id: Option<&str>,
        role_names: &[String],
    ) -> Result<User, StepError> {
        user(host::set_roles(user_id, tenant_id, role_names))
    }

    pub(crate) fn add_roles(
        user_id: &str,
        tenant_id: Option<&str>,
        role_names: &[String],
    ) -> Result<User, StepError> {
        user(host::add_roles(user_id, tenant_id, role_names))
    }

    pub(crate) fn remove_roles(
        user_id: &str,
        tenant_id: Option<&str>,
        role_names: &[String],
    ) -> Result<User, StepError> {
        user(host::remove_roles(user_id, tenant_id, role_names))
    }

    pub(crate) fn add_tenant(
        user_id: &str,
        tenant_id: &str,
        role_names: &[String],
    ) -> Result<User, StepError> {
        user(host::add_tenant(user_id, tenant_id, role_names))
    }

    pub(crate) fn remove_tenant(user_id: &str, tenant_id: &str) -> Result<User, StepError> {
        user(host::remove_tenant(user_id, tenant_id))
    }

    pub(crate) fn search(query: &UserQuery) -> Result<UserPage, StepError> {
        let page = host::search(&query_to_wit(query)).map_err(error_from_wit)?;
        Ok(UserPage {
            users: page
                .users
                .into_iter()
                .map(user_from_wit)
                .collect::<Result<_, _>>()?,
            total: page.total,
        })
    }
}

#[cfg(feature = "action")]
pub(crate) mod tenants {
    use super::*;
    use crate::__private::bindings::sluice::flow::tenants as host;

    fn tenant(result: Result<wit::Tenant, wit::StepError>) -> Result<Tenant, StepError> {
        result.map_err(error_from_wit).and_then(tenant_from_wit)
    }

    pub(crate) fn load(tenant_id: &str) -> Result<Tenant, StepError> {
        tenant(host::load(tenant_id))
    }

    pub(crate) fn create(new_tenant: &Tenant) -> Result<Tenant, StepError> {
        tenant(host::create(&tenant_to_wit(new_tenant)))
    }

    pub(crate) fn update(changed: &Tenant) -> Result<Tenant, StepError> {
        tenant(host::update(&tenant_to_wit(changed)))
    }

    pub(crate) fn delete(tenant_id: &str) -> Result<(), StepError> {
        host::delete(tenant_id).map_err(error_from_wit)
    }
}

#[cfg(feature = "action")]
pub(crate) mod consent {
    use super::*;
    use crate::__private::bindings::sluice::flow::consent as host;

    pub(crate) fn grant(
        user_id: &str,
        app_id: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, StepError> {
        host::grant(user_id, app_id, scopes).map_err(error_from_wit)
    }

    pub(crate) fn revoke(
        user_id: &str,
        app_id: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, StepError> {
        host::revoke(user_id, app_id, scopes).map_err(error_from_wit)
    }
}

#[cfg(feature = "action")]
pub(crate) mod audit {
    use super::*;
    use crate::__private::bindings::sluice::flow::audit as host;

    pub(crate) fn emit(event: &NewAuditEvent) -> Result<AuditEvent, StepError> {
        host::emit(&new_audit_event_to_wit(event))
            .map_err(error_from_wit)
            .and_then(audit_event_from_wit)
    }
}

#[cfg(any(feature = "action", feature = "connector"))]
pub(crate) mod log {
    use crate::__private::bindings::sluice::flow::log as host;
    use crate::log::Level;

    pub(crate) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }
}

#[cfg(feature = "connector")]
pub(crate) mod config {
    use crate::__private::bindings::sluice::flow::connector_config as host;

    pub(crate) fn get(key: &str) -> Option<String> {
        host::get(key)
    }

    pub(crate) fn secret(name: &str) -> Option<String> {
        host::secret(name)
    }
}

#[cfg(feature = "connector")]
pub(crate) mod http {
    use crate::__private::bindings::wasi::http::outgoing_handler;
    use crate::__private::bindings::wasi::http::types as wasi;
    use crate::__private::bindings::wasi::io::streams::StreamError;
    use crate::error::StepError;
    use crate::http::{Method, Request, Response, UrlParts};

    /// `blocking-write-and-flush` accepts at most 4096 bytes per call.
    const WRITE_CHUNK_BYTES: usize = 4096;
    const READ_CHUNK_BYTES: u64 = 64 * 1024;

    fn failed(request: &Request, what: impl std::fmt::Display) -> StepError {
        StepError::upstream_failure(format!("{} {} failed: {what}", request.method, request.url))
    }

    fn method_to_wasi(method: &Method) -> wasi::Method {
        match method {
            Method::Get => wasi::Method::Get,
            Method::Head => wasi::Method::Head,
            Method::Post => wasi::Method::Post,
            Method::Put => wasi::Method::Put,
            Method::Patch => wasi::Method::Patch,
            Method::Delete => wasi::Method::Delete,
            Method::Options => wasi::Method::Options,
            Method::Other(name) => wasi::Method::Other(name.clone()),
        }
    }

    pub(crate) fn send(request: &Request, url: &UrlParts<'_>) -> Result<Response, StepError> {
        let entries: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
            .collect();
        let headers = wasi::Fields::from_list(&entries).map_err(|error| {
            StepError::invalid_config(format!("invalid request header: {error:?}"))
        })?;

        let outgoing = wasi::OutgoingRequest::new(headers);
        let invalid = |part: &str| {
            StepError::invalid_config(format!("invalid request {part} in {}", request.url))
        };
        outgoing
            .set_method(&method_to_wasi(&request.method))
            .map_err(|()| invalid("method"))?;
        let scheme = if url.https {
            wasi::Scheme::Https
        } else {
            wasi::Scheme::Http
        };
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        outgoing
            .set_authority(Some(url.authority))
            .map_err(|()| invalid("authority"))?;
        outgoing
            .set_path_with_query(Some(&url.path_with_query))
            .map_err(|()| invalid("path"))?;

        let options = request.timeout.map(|timeout| {
            let options = wasi::RequestOptions::new();
            let nanoseconds = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            // A host that does not support a timeout keeps its own default,
            // so a rejected setting is not an error.
            let _ = options.set_connect_timeout(Some(nanoseconds));
            let _ = options.set_first_byte_timeout(Some(nanoseconds));
            let _ = options.set_between_bytes_timeout(Some(nanoseconds));
            options
        });

        // Start the request before writing the body: the host may buffer
        // only part of a body that nothing reads yet.
        let body = outgoing
            .body()
            .map_err(|()| failed(request, "the request body was taken twice"))?;
        let future = outgoing_handler::handle(outgoing, options)
            .map_err(|error| failed(request, format!("{error:?}")))?;
        write_body(request, body)?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(error))) => return Err(failed(request, format!("{error:?}"))),
            Some(Err(())) | None => return Err(failed(request, "the response was not available")),
        };

        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let body = read_body(request, &response)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn write_body(request: &Request, body: wasi::OutgoingBody) -> Result<(), StepError> {
        {
            let stream = body
                .write()
                .map_err(|()| failed(request, "the request body stream was taken twice"))?;
            for chunk in request.body.chunks(WRITE_CHUNK_BYTES) {
                stream.blocking_write_and_flush(chunk).map_err(|error| {
                    failed(request, format!("writing the request body: {error:?}"))
                })?;
            }
            // The stream must be dropped before the body is finished.
        }
        wasi::OutgoingBody::finish(body, None)
            .map_err(|error| failed(request, format!("{error:?}")))
    }

    fn read_body(
        request: &Request,
        response: &wasi::IncomingResponse,
    ) -> Result<Vec<u8>, StepError> {
        let incoming = response
            .consume()
            .map_err(|()| failed(request, "the response body was taken twice"))?;
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| failed(request, "the response body stream was taken twice"))?;
            loop {
                match stream.blocking_read(READ_CHUNK_BYTES) {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(error)) => {
                        return Err(failed(
                            request,
                            format!("reading the response body: {}", error.to_debug_string()),
                        ));
                    }
                }
            }
        }
        drop(wasi::IncomingBody::finish(incoming));
        Ok(body)
    }
}
