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
use sluice_model::body::users::{
    ContactBody, CreateBatchBody, CustomAttributeBody, DeleteBody, LoginIdBody, NameBody, PatchBatchBody, RolesBody, SearchBody,
    StatusBody, TenantBody, UserFields, UserIdsBody, attributes_match,
};
use sluice_model::error::required;

use crate::model::{MAX_PAGE_SIZE, User, UserQuery, UserStatus, UserTenant};
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

fn user_response(user: &User) -> Json<Value> {
    Json(json!({ "user": user }))
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
