//! User management calls on Descope's paths, with its request field names
//! and its `{"user": {...}}` responses.
//!
//! Paths, methods and body fields follow `descope/management/user.py` and
//! `_user_base.py` of Descope's Python SDK 2.16.1. That SDK sends `null` for
//! every argument the caller left unset, so every optional body field here
//! accepts both absent and `null`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::model::{MAX_PAGE_SIZE, NewUser, User, UserQuery, UserStatus, UserTenant};
use crate::store::{Backend, StoreError};

/// Audit action of a change to a user's fields, login ids, roles or tenants.
const USER_MODIFIED: &str = "UserModified";
/// Audit action of enabling or disabling a user.
const USER_STATUS_CHANGED: &str = "UserStatusChanged";

// TODO: Test users are not served (`/v1/mgmt/user/create/test`,
// `/v2/mgmt/user/search/test`, `/v1/mgmt/user/test/delete/all`), because
// `model::User` has no `test` flag. Add the flag to the model and the
// stores first.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/user", get(load_user))
        .route("/v1/mgmt/users/load", post(load_users))
        .route("/v1/mgmt/user/create", post(create_user))
        .route("/v1/mgmt/user/create/batch", post(create_users))
        .route("/v1/mgmt/user/update", post(update_user))
        .route("/v1/mgmt/user/patch", patch(patch_user))
        .route("/v1/mgmt/user/patch/batch", patch(patch_users))
        .route("/v1/mgmt/user/delete", post(delete_user))
        .route("/v1/mgmt/user/delete/batch", post(delete_users))
        .route("/v2/mgmt/user/search", post(search_users))
        .route("/v1/mgmt/user/update/status", post(update_status))
        .route("/v1/mgmt/user/update/loginid", post(update_login_id))
        .route("/v1/mgmt/user/update/email", post(update_email))
        .route("/v1/mgmt/user/update/phone", post(update_phone))
        .route("/v1/mgmt/user/update/name", post(update_name))
        .route("/v1/mgmt/user/update/customAttribute", post(update_custom_attribute))
        .route("/v1/mgmt/user/update/role/set", post(set_roles))
        // Descope's Python SDK 2.16.1 adds roles through v2. The v1 path runs
        // the same handler for clients that still call it.
        .route("/v2/mgmt/user/update/role/add", post(add_roles))
        .route("/v1/mgmt/user/update/role/add", post(add_roles))
        .route("/v1/mgmt/user/update/role/remove", post(remove_roles))
        .route("/v1/mgmt/user/update/tenant/add", post(add_tenant))
        .route("/v1/mgmt/user/update/tenant/remove", post(remove_tenant))
}

/// Returns `value` when it is present and not empty.
fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value.filter(|value| !value.is_empty()).ok_or_else(|| ApiError::missing(field))
}

fn user_response(user: &User) -> Json<Value> {
    Json(json!({ "user": user }))
}

/// A tenant membership in a request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantRoles {
    tenant_id: Option<String>,
    role_names: Option<Vec<String>>,
}

/// User fields of the create, update and patch bodies.
///
/// Fields of Descope's users that Sluice does not store (`middleName`,
/// `picture`, `ssoAppIds`, `password`, `test`, invitation settings) are
/// accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserFields {
    login_id: Option<String>,
    additional_login_ids: Option<Vec<String>>,
    email: Option<String>,
    phone: Option<String>,
    /// The Python SDK sends `displayName`, and responses carry it as `name`.
    #[serde(alias = "name")]
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    status: Option<UserStatus>,
    verified_email: Option<bool>,
    verified_phone: Option<bool>,
    role_names: Option<Vec<String>>,
    user_tenants: Option<Vec<TenantRoles>>,
    custom_attributes: Option<Map<String, Value>>,
    /// Create only: the user starts as `invited` unless `status` is given.
    invite: Option<bool>,
}

impl UserFields {
    /// Checks the fields and returns the login id. `path` prefixes field
    /// names in errors, such as `users[2].` in a batch.
    fn check(&self, path: &str) -> Result<String, ApiError> {
        let login_id = required(self.login_id.clone(), &format!("{path}loginId"))?;
        for (index, membership) in self.user_tenants.iter().flatten().enumerate() {
            if membership.tenant_id.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::missing(&format!("{path}userTenants[{index}].tenantId")));
            }
        }
        Ok(login_id)
    }

    /// Returns the requested tenant memberships. Call [`Self::check`] first,
    /// because it rejects a membership without a tenant id.
    fn memberships(&self) -> Option<Vec<UserTenant>> {
        self.user_tenants.as_ref().map(|memberships| {
            memberships
                .iter()
                .map(|membership| UserTenant {
                    tenant_id: membership.tenant_id.clone().unwrap_or_default(),
                    tenant_name: String::new(),
                    role_names: membership.role_names.clone().unwrap_or_default(),
                })
                .collect()
        })
    }

    fn into_new_user(self, path: &str) -> Result<NewUser, ApiError> {
        let login_id = self.check(path)?;
        let user_tenants = self.memberships().unwrap_or_default();
        let status = match (self.status, self.invite) {
            (Some(status), _) => Some(status),
            (None, Some(true)) => Some(UserStatus::Invited),
            (None, _) => None,
        };
        Ok(NewUser {
            login_id,
            additional_login_ids: self.additional_login_ids.unwrap_or_default(),
            email: self.email,
            phone: self.phone,
            name: self.display_name,
            given_name: self.given_name,
            family_name: self.family_name,
            status,
            verified_email: self.verified_email.unwrap_or(false),
            verified_phone: self.verified_phone.unwrap_or(false),
            role_names: self.role_names.unwrap_or_default(),
            user_tenants,
            custom_attributes: self.custom_attributes.unwrap_or_default(),
        })
    }

    /// Replaces the user's fields with these, as Descope's update does:
    /// an absent field clears the stored value.
    ///
    /// NOTE: Three fields keep their stored value when absent, because the
    /// Python SDK's `update` sends them only when set: `status`, the
    /// verified flags and `additionalLoginIds`.
    fn replace(&self, login_id: &str, user: &mut User) {
        if let Some(additional) = &self.additional_login_ids {
            user.login_ids = std::iter::once(login_id.to_owned()).chain(additional.iter().cloned()).collect();
        }
        user.email.clone_from(&self.email);
        user.phone.clone_from(&self.phone);
        user.name.clone_from(&self.display_name);
        user.given_name.clone_from(&self.given_name);
        user.family_name.clone_from(&self.family_name);
        if let Some(status) = self.status {
            user.status = status;
        }
        if let Some(verified) = self.verified_email {
            user.verified_email = verified;
        }
        if let Some(verified) = self.verified_phone {
            user.verified_phone = verified;
        }
        user.role_names = self.role_names.clone().unwrap_or_default();
        user.user_tenants = self.memberships().unwrap_or_default();
        user.custom_attributes = self.custom_attributes.clone().unwrap_or_default();
    }

    /// Sets the fields that are present and leaves the others as stored.
    /// An empty text value removes the field.
    fn apply_patch(&self, user: &mut User) {
        if let Some(additional) = &self.additional_login_ids {
            let primary = user.login_ids.first().cloned().unwrap_or_default();
            user.login_ids = std::iter::once(primary).chain(additional.iter().cloned()).collect();
        }

        let texts = [
            (&self.email, &mut user.email),
            (&self.phone, &mut user.phone),
            (&self.display_name, &mut user.name),
            (&self.given_name, &mut user.given_name),
            (&self.family_name, &mut user.family_name),
        ];
        for (requested, stored) in texts {
            if let Some(value) = requested {
                *stored = Some(value.clone()).filter(|value| !value.is_empty());
            }
        }

        if let Some(status) = self.status {
            user.status = status;
        }
        if let Some(verified) = self.verified_email {
            user.verified_email = verified;
        }
        if let Some(verified) = self.verified_phone {
            user.verified_phone = verified;
        }

        if let Some(roles) = &self.role_names {
            user.role_names.clone_from(roles);
        }
        if let Some(memberships) = self.memberships() {
            user.user_tenants = memberships;
        }

        // NOTE: Custom attributes are merged key by key, so a patch never drops
        // an attribute it does not name; Descope's own merge rule is not
        // documented in its SDK.
        if let Some(attributes) = &self.custom_attributes {
            for (key, value) in attributes {
                user.custom_attributes.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Loads the user with `login_id`, applies `change` in the store's
/// transaction and returns `{"user"}` with the result.
async fn change_user<F>(
    state: &AppState,
    caller: &Caller,
    login_id: String,
    audit_action: &'static str,
    mut change: F,
) -> Result<Json<Value>, ApiError>
where
    F: FnMut(&mut User) -> Result<(), StoreError> + Send + 'static,
{
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let user = blocking(move || {
        let found = backend.load_user_by_login_id(&project, &login_id)?;
        Ok(backend.modify_user(&project, &found.user_id, audit_action, &actor, &mut change)?)
    })
    .await?;
    Ok(user_response(&user))
}

/// Query of `GET /v1/mgmt/user`. The Python SDK sends `loginId` or `userId`.
#[derive(Debug, Deserialize)]
struct LoadQuery {
    #[serde(rename = "loginId", alias = "loginid")]
    login_id: Option<String>,
    #[serde(rename = "userId", alias = "userid")]
    user_id: Option<String>,
}

async fn load_user(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LoadQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let user = match (
        query.login_id.filter(|id| !id.is_empty()),
        query.user_id.filter(|id| !id.is_empty()),
    ) {
        (Some(login_id), _) => blocking(move || Ok(backend.load_user_by_login_id(&project, &login_id)?)).await?,
        (None, Some(user_id)) => blocking(move || Ok(backend.load_user(&project, &user_id)?)).await?,
        (None, None) => return Err(ApiError::missing("loginId")),
    };
    Ok(user_response(&user))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdsBody {
    user_ids: Option<Vec<String>>,
}

/// Loads users by user id. Ids of users that do not exist are left out,
/// so the response may list fewer users than requested.
async fn load_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UserIdsBody>,
) -> Result<Json<Value>, ApiError> {
    let user_ids = body.user_ids.filter(|ids| !ids.is_empty()).ok_or_else(|| ApiError::missing("userIds"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let users = blocking(move || {
        let mut users = Vec::with_capacity(user_ids.len());
        for user_id in &user_ids {
            match backend.load_user(&project, user_id) {
                Ok(user) => users.push(user),
                Err(StoreError::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(users)
    })
    .await?;
    Ok(Json(json!({ "users": users })))
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UserFields>,
) -> Result<Json<Value>, ApiError> {
    let new_user = body.into_new_user("")?;
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let user = blocking(move || Ok(backend.create_user(&project, new_user, &actor)?)).await?;
    Ok(user_response(&user))
}

#[derive(Debug, Deserialize)]
struct CreateBatchBody {
    users: Option<Vec<UserFields>>,
    invite: Option<bool>,
}

/// Creates each user on its own: a user the store rejects (a taken login
/// id, an unknown tenant) is listed in `failedUsers` and the others are
/// still created. A body with a missing field is rejected as a whole.
async fn create_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateBatchBody>,
) -> Result<Json<Value>, ApiError> {
    let users = body.users.filter(|users| !users.is_empty()).ok_or_else(|| ApiError::missing("users"))?;
    let mut new_users = Vec::with_capacity(users.len());
    for (index, mut fields) in users.into_iter().enumerate() {
        fields.invite = fields.invite.or(body.invite);
        new_users.push(fields.into_new_user(&format!("users[{index}]."))?);
    }
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let (created, failed) = blocking(move || {
        let mut created = Vec::new();
        let mut failed = Vec::new();
        for new_user in new_users {
            let login_ids = new_user.login_ids();
            match backend.create_user(&project, new_user, &actor) {
                Ok(user) => created.push(json!(user)),
                Err(StoreError::Backend(detail)) => return Err(ApiError::internal(detail)),
                Err(err) => failed.push(json!({ "failure": err.to_string(), "user": { "loginIds": login_ids } })),
            }
        }
        Ok((created, failed))
    })
    .await?;
    Ok(Json(json!({ "createdUsers": created, "failedUsers": failed })))
}

async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UserFields>,
) -> Result<Json<Value>, ApiError> {
    let login_id = body.check("")?;
    let primary = login_id.clone();
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        body.replace(&primary, user);
        Ok(())
    })
    .await
}

async fn patch_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UserFields>,
) -> Result<Json<Value>, ApiError> {
    let login_id = body.check("")?;
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        body.apply_patch(user);
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
struct PatchBatchBody {
    users: Option<Vec<UserFields>>,
}

/// Patches each user on its own, as [`create_users`] creates them: a user
/// the store rejects is listed in `failedUsers` and the others are still
/// patched.
async fn patch_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PatchBatchBody>,
) -> Result<Json<Value>, ApiError> {
    let users = body.users.filter(|users| !users.is_empty()).ok_or_else(|| ApiError::missing("users"))?;
    let mut patches = Vec::with_capacity(users.len());
    for (index, fields) in users.into_iter().enumerate() {
        let login_id = fields.check(&format!("users[{index}]."))?;
        patches.push((login_id, fields));
    }
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let (patched, failed) = blocking(move || {
        let mut patched = Vec::new();
        let mut failed = Vec::new();
        for (login_id, fields) in patches {
            let result = backend.load_user_by_login_id(&project, &login_id).and_then(|found| {
                backend.modify_user(&project, &found.user_id, USER_MODIFIED, &actor, &mut |user| {
                    fields.apply_patch(user);
                    Ok(())
                })
            });
            match result {
                Ok(user) => patched.push(json!(user)),
                Err(StoreError::Backend(detail)) => return Err(ApiError::internal(detail)),
                Err(err) => failed.push(json!({ "failure": err.to_string(), "user": { "loginIds": [login_id] } })),
            }
        }
        Ok((patched, failed))
    })
    .await?;
    Ok(Json(json!({ "patchedUsers": patched, "failedUsers": failed })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBody {
    login_id: Option<String>,
    user_id: Option<String>,
}

/// Deletes the user named by `loginId` or, as `delete_by_user_id` sends it,
/// by `userId`.
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = body.login_id.filter(|id| !id.is_empty());
    let user_id = body.user_id.filter(|id| !id.is_empty());
    if login_id.is_none() && user_id.is_none() {
        return Err(ApiError::missing("loginId"));
    }
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    blocking(move || {
        let user_id = match (login_id, user_id) {
            (Some(login_id), _) => backend.load_user_by_login_id(&project, &login_id)?.user_id,
            (None, Some(user_id)) => user_id,
            (None, None) => return Err(ApiError::missing("loginId")),
        };
        Ok(backend.delete_user(&project, &user_id, &actor)?)
    })
    .await?;
    Ok(Json(json!({})))
}

/// Deletes users by user id. Ids of users that do not exist are skipped,
/// so repeating a batch succeeds.
async fn delete_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UserIdsBody>,
) -> Result<Json<Value>, ApiError> {
    let user_ids = body.user_ids.filter(|ids| !ids.is_empty()).ok_or_else(|| ApiError::missing("userIds"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    blocking(move || {
        for user_id in &user_ids {
            match backend.delete_user(&project, user_id, &actor) {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({})))
}

/// Search filters as the Python SDK's `search_all` sends them. Filters the
/// SDK has and Sluice does not (`sort`, time ranges, `ssoAppIds`,
/// `tenantRoleNames`, families, lock reasons) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    tenant_ids: Option<Vec<String>>,
    role_names: Option<Vec<String>>,
    statuses: Option<Vec<UserStatus>>,
    text: Option<String>,
    login_ids: Option<Vec<String>>,
    user_ids: Option<Vec<String>>,
    emails: Option<Vec<String>>,
    phones: Option<Vec<String>>,
    custom_attributes: Option<Map<String, Value>>,
    page: Option<u32>,
    limit: Option<u32>,
    test_users_only: Option<bool>,
}

/// The filters of a search that [`UserQuery`] has no field for, applied
/// after the store's own filters.
#[derive(Debug, Default)]
struct ExtraFilters {
    user_ids: Vec<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    custom_attributes: Map<String, Value>,
}

impl ExtraFilters {
    fn is_empty(&self) -> bool {
        self.user_ids.is_empty() && self.emails.is_empty() && self.phones.is_empty() && self.custom_attributes.is_empty()
    }

    fn matches(&self, user: &User) -> bool {
        let listed = |filter: &[String], value: Option<&String>| filter.is_empty() || value.is_some_and(|v| filter.contains(v));
        listed(&self.user_ids, Some(&user.user_id))
            && listed(&self.emails, user.email.as_ref())
            && listed(&self.phones, user.phone.as_ref())
            && attributes_match(&user.custom_attributes, &self.custom_attributes)
    }
}

/// Returns whether `attributes` has every key of `filter` with a matching
/// value: an equal value, or one of the values when the filter is an array.
pub(super) fn attributes_match(attributes: &Map<String, Value>, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(key, wanted)| {
        attributes.get(key).is_some_and(|actual| match wanted {
            Value::Array(options) => actual == wanted || options.contains(actual),
            _ => actual == wanted,
        })
    })
}

/// Returns one page of the users that match `query` and `extra`, and the
/// total count.
///
/// NOTE: With any extra filter this reads every user that matches `query`,
/// one store page at a time, because the store cannot page on those
/// filters. The pages are separate reads, so a change between them can
/// skip or repeat a user.
fn search_with(backend: &dyn Backend, project: &str, query: &UserQuery, extra: &ExtraFilters) -> Result<(Vec<User>, u32), StoreError> {
    if extra.is_empty() {
        return backend.search_users(project, query);
    }
    let mut scan = query.clone();
    scan.limit = MAX_PAGE_SIZE;
    scan.page = 0;
    let mut matching = Vec::new();
    loop {
        let (page, total) = backend.search_users(project, &scan)?;
        let read = page.len();
        matching.extend(page.into_iter().filter(|user| extra.matches(user)));
        let seen = u64::from(scan.page + 1) * u64::from(MAX_PAGE_SIZE);
        if read < MAX_PAGE_SIZE as usize || seen >= u64::from(total) {
            break;
        }
        scan.page += 1;
    }
    let total = u32::try_from(matching.len()).unwrap_or(u32::MAX);
    let size = query.page_size() as usize;
    let page = matching
        .into_iter()
        .skip(size.saturating_mul(query.page as usize))
        .take(size)
        .collect();
    Ok((page, total))
}

/// Searches users: `{"users": [...], "total": n}` with `total` counting
/// every match, not only this page. `limit` 0 or absent means 100, and
/// larger limits are capped at 100.
async fn search_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Value>, ApiError> {
    // Sluice has no test users, so a search for test users only finds none.
    if body.test_users_only == Some(true) {
        return Ok(Json(json!({ "users": [], "total": 0 })));
    }
    let query = UserQuery {
        login_ids: body.login_ids.unwrap_or_default(),
        statuses: body.statuses.unwrap_or_default(),
        tenant_ids: body.tenant_ids.unwrap_or_default(),
        role_names: body.role_names.unwrap_or_default(),
        text: body.text,
        page: body.page.unwrap_or(0),
        limit: body.limit.unwrap_or(0),
    };
    let extra = ExtraFilters {
        user_ids: body.user_ids.unwrap_or_default(),
        emails: body.emails.unwrap_or_default(),
        phones: body.phones.unwrap_or_default(),
        custom_attributes: body.custom_attributes.unwrap_or_default(),
    };
    let backend = state.backend();
    let project = caller.project.clone();
    let (users, total) = blocking(move || Ok(search_with(backend.as_ref(), &project, &query, &extra)?)).await?;
    Ok(Json(json!({ "users": users, "total": total })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    login_id: Option<String>,
    status: Option<UserStatus>,
}

/// Enables or disables a user. The statuses `invited` and `expired` come
/// from invitations, so this call rejects them.
async fn update_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let status = body.status.ok_or_else(|| ApiError::missing("status"))?;
    if !matches!(status, UserStatus::Enabled | UserStatus::Disabled) {
        return Err(ApiError::invalid(format!(
            "invalid field `status`: expected `enabled` or `disabled`, got `{}`",
            status.as_str()
        )));
    }
    change_user(&state, &caller, login_id, USER_STATUS_CHANGED, move |user| {
        user.status = status;
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginIdBody {
    login_id: Option<String>,
    new_login_id: Option<String>,
}

/// Replaces one login id of a user in place, or removes it when
/// `newLoginId` is empty. The store rejects removing the last login id.
async fn update_login_id(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<LoginIdBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let new_login_id = body.new_login_id.filter(|id| !id.is_empty());
    let old = login_id.clone();
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        match &new_login_id {
            Some(new) => {
                for id in &mut user.login_ids {
                    if *id == old {
                        id.clone_from(new);
                    }
                }
            }
            None => user.login_ids.retain(|id| *id != old),
        }
        Ok(())
    })
    .await
}

/// Body of the email and phone updates. `failOnConflict` is accepted and
/// ignored, because Sluice does not turn an email or phone into a login id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    login_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    verified: Option<bool>,
}

/// Returns the new verified flag: as requested, else unchanged for the
/// same address and false for a new one.
fn verified_after(old: Option<&String>, new: Option<&String>, requested: Option<bool>, current: bool) -> bool {
    requested.unwrap_or(current && old == new)
}

/// Sets or, when `email` is empty or absent, removes a user's email.
async fn update_email(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let email = body.email.filter(|email| !email.is_empty());
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        user.verified_email = verified_after(user.email.as_ref(), email.as_ref(), body.verified, user.verified_email);
        user.email.clone_from(&email);
        Ok(())
    })
    .await
}

/// Sets or, when `phone` is empty or absent, removes a user's phone.
async fn update_phone(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let phone = body.phone.filter(|phone| !phone.is_empty());
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        user.verified_phone = verified_after(user.phone.as_ref(), phone.as_ref(), body.verified, user.verified_phone);
        user.phone.clone_from(&phone);
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameBody {
    login_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
}

/// Sets the name fields present in the body, because the SDK leaves out
/// the ones the caller did not pass. An empty value removes the field.
async fn update_name(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        let fields = [
            (&body.display_name, &mut user.name),
            (&body.given_name, &mut user.given_name),
            (&body.family_name, &mut user.family_name),
        ];
        for (requested, stored) in fields {
            if let Some(value) = requested {
                *stored = Some(value.clone()).filter(|value| !value.is_empty());
            }
        }
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomAttributeBody {
    login_id: Option<String>,
    attribute_key: Option<String>,
    attribute_value: Option<Value>,
}

async fn update_custom_attribute(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CustomAttributeBody>,
) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let key = required(body.attribute_key, "attributeKey")?;
    let value = body.attribute_value.ok_or_else(|| ApiError::missing("attributeValue"))?;
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        user.custom_attributes.insert(key.clone(), value.clone());
        Ok(())
    })
    .await
}

/// Body of the role calls: project roles without `tenantId`, the roles
/// inside that tenant with it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RolesBody {
    login_id: Option<String>,
    tenant_id: Option<String>,
    role_names: Option<Vec<String>>,
}

/// The change a role call makes to the role list.
#[derive(Debug, Clone, Copy)]
enum RoleChange {
    Set,
    Add,
    Remove,
}

/// Returns the role list to change: the project's, or the one of a tenant
/// the user belongs to.
fn role_list<'a>(user: &'a mut User, tenant_id: Option<&str>) -> Result<&'a mut Vec<String>, StoreError> {
    let Some(tenant_id) = tenant_id else {
        return Ok(&mut user.role_names);
    };
    user.user_tenants
        .iter_mut()
        .find(|membership| membership.tenant_id == tenant_id)
        .map(|membership| &mut membership.role_names)
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "the user is not a member of tenant `{tenant_id}`. Add the tenant to the user first"
            ))
        })
}

async fn change_roles(state: AppState, caller: Caller, body: RolesBody, how: RoleChange) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let roles = body.role_names.ok_or_else(|| ApiError::missing("roleNames"))?;
    let tenant_id = body.tenant_id.filter(|id| !id.is_empty());
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        let list = role_list(user, tenant_id.as_deref())?;
        match how {
            RoleChange::Set => list.clone_from(&roles),
            RoleChange::Add => {
                for role in &roles {
                    if !list.contains(role) {
                        list.push(role.clone());
                    }
                }
            }
            RoleChange::Remove => list.retain(|role| !roles.contains(role)),
        }
        Ok(())
    })
    .await
}

async fn set_roles(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<RolesBody>) -> Result<Json<Value>, ApiError> {
    change_roles(state, caller, body, RoleChange::Set).await
}

async fn add_roles(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<RolesBody>) -> Result<Json<Value>, ApiError> {
    change_roles(state, caller, body, RoleChange::Add).await
}

async fn remove_roles(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<RolesBody>) -> Result<Json<Value>, ApiError> {
    change_roles(state, caller, body, RoleChange::Remove).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantBody {
    login_id: Option<String>,
    tenant_id: Option<String>,
}

/// Adds a tenant membership with no roles. Adding an existing membership
/// changes nothing, and an unknown tenant is a 404.
async fn add_tenant(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<TenantBody>) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let tenant_id = required(body.tenant_id, "tenantId")?;
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        if !user.user_tenants.iter().any(|membership| membership.tenant_id == tenant_id) {
            user.user_tenants.push(UserTenant {
                tenant_id: tenant_id.clone(),
                ..UserTenant::default()
            });
        }
        Ok(())
    })
    .await
}

/// Removes a tenant membership with its roles. Removing a membership the
/// user does not have changes nothing.
async fn remove_tenant(State(state): State<AppState>, caller: Caller, ApiJson(body): ApiJson<TenantBody>) -> Result<Json<Value>, ApiError> {
    let login_id = required(body.login_id, "loginId")?;
    let tenant_id = required(body.tenant_id, "tenantId")?;
    change_user(&state, &caller, login_id, USER_MODIFIED, move |user| {
        user.user_tenants.retain(|membership| membership.tenant_id != tenant_id);
        Ok(())
    })
    .await
}
