//! Audit search and custom audit events against a real `sluice serve` on
//! loopback, with the bodies Descope's Python SDK sends.

mod common;

use serde_json::{Value, json};

use common::server::{PROJECT, Server};

const SEARCH: &str = "/v1/mgmt/audit/search";
const EVENT: &str = "/v1/mgmt/audit/event";

/// Returns the `audits` of a search response.
fn audits(response: &Value) -> &Vec<Value> {
    response["audits"].as_array().unwrap_or_else(|| panic!("`audits` is not an array: {response}"))
}

/// Searches and returns the response, asserting a 200.
fn search(server: &Server, body: Value) -> Value {
    let (status, response) = server.post(SEARCH, body.clone());
    assert_eq!(status, 200, "search {body}: {response}");
    response
}

/// Asserts a 400 whose message names `field` in backquotes.
fn assert_names_field(status: u16, response: &Value, field: &str, case: &str) {
    assert_eq!(status, 400, "{case}: {response}");
    let code = response["errorCode"].as_str().unwrap_or_default();
    assert!(code.starts_with("E0110"), "{case}: error code `{code}`");
    let message = response["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("`{field}`")), "{case}: message `{message}` does not name `{field}`");
}

fn create_user(server: &Server, login_id: &str) -> String {
    let (status, response) = server.post("/v1/mgmt/user/create", json!({ "loginId": login_id, "email": login_id }));
    assert_eq!(status, 200, "create {login_id}: {response}");
    response["user"]["userId"].as_str().expect("user id").to_owned()
}

#[test]
fn created_user_has_one_record() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let before = sluice::store::now_millis();

    let user_id = create_user(&server, "ada@acme.com");

    let response = search(&server, json!({ "noTenants": false, "actions": ["UserCreated"], "userIds": [user_id] }));
    let found = audits(&response);
    assert_eq!(found.len(), 1, "response: {response}");
    assert_eq!(response["total"], 1);
    let record = &found[0];
    assert_eq!(record["projectId"], PROJECT);
    assert_eq!(record["userId"], user_id.as_str());
    assert_eq!(record["action"], "UserCreated");
    assert_eq!(record["type"], "info");
    let actor = record["actorId"].as_str().expect("actorId is a string");
    assert!(!actor.is_empty(), "actorId is empty");
    assert!(!actor.starts_with("flow:"), "actorId `{actor}`");
    let occurred = record["occurred"].as_u64().expect("occurred is a whole number");
    assert!(occurred >= before, "occurred {occurred} before the request at {before}");
    assert!(occurred <= sluice::store::now_millis(), "occurred {occurred} in the future");
    assert_eq!(record["device"], "");
    assert_eq!(record["method"], "");
    assert_eq!(record["geo"], "");
    assert_eq!(record["remoteAddress"], "127.0.0.1");
    assert_eq!(record["externalIds"], json!(["ada@acme.com"]));
    assert_eq!(record["tenants"], json!([]));
    assert_eq!(record["data"], json!({}));

    let by_login_id = search(&server, json!({ "externalIds": ["ada@acme.com"] }));
    assert_eq!(audits(&by_login_id).len(), 1, "response: {by_login_id}");
    assert_eq!(audits(&by_login_id)[0], *record);
    server.stop();
}

#[test]
fn custom_event_round_trips() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let (status, tenant) = server.post("/v1/mgmt/tenant/create", json!({ "id": "T1", "name": "Acme" }));
    assert_eq!(status, 200, "tenant: {tenant}");
    let user_id = create_user(&server, "ada@acme.com");
    let data = json!({ "invoice": "INV-42", "amount": 12.5, "lines": [{ "sku": "A" }], "paid": true });

    let (status, response) = server.post(
        EVENT,
        json!({
            "action": "InvoicePaid",
            "type": "warn",
            "actorId": "billing-service",
            "tenantId": "T1",
            "userId": user_id,
            "data": data,
        }),
    );
    assert_eq!(status, 200, "response: {response}");
    assert_eq!(response, json!({}));

    let response = search(&server, json!({ "actions": ["InvoicePaid"] }));
    let found = audits(&response);
    assert_eq!(found.len(), 1, "response: {response}");
    let record = &found[0];
    assert_eq!(record["projectId"], PROJECT);
    assert_eq!(record["action"], "InvoicePaid");
    assert_eq!(record["type"], "warn");
    assert_eq!(record["actorId"], "billing-service");
    assert_eq!(record["userId"], user_id.as_str());
    assert_eq!(record["externalIds"], json!(["ada@acme.com"]));
    assert_eq!(record["tenants"], json!(["T1"]));
    assert_eq!(record["remoteAddress"], "127.0.0.1");
    assert_eq!(record["data"], data);
    let occurred = record["occurred"].as_u64().expect("occurred is a whole number");

    // Time bounds as floats, which earlier releases of the Python SDK send.
    let from_float = search(&server, json!({ "actions": ["InvoicePaid"], "from": occurred as f64 }));
    assert_eq!(audits(&from_float).len(), 1, "from {occurred}.0: {from_float}");
    let from_fraction = search(&server, json!({ "actions": ["InvoicePaid"], "from": occurred as f64 - 0.5 }));
    assert_eq!(audits(&from_fraction).len(), 1, "from {occurred} - 0.5: {from_fraction}");
    let after = search(&server, json!({ "actions": ["InvoicePaid"], "from": occurred as f64 + 0.5 }));
    assert_eq!(audits(&after).len(), 0, "from {occurred} + 0.5: {after}");
    let before = search(&server, json!({ "actions": ["InvoicePaid"], "to": occurred - 1 }));
    assert_eq!(audits(&before).len(), 0, "to {occurred} - 1: {before}");
    let text = search(&server, json!({ "text": "inv-42" }));
    assert_eq!(audits(&text).len(), 1, "text: {text}");

    // The SDK sends an empty tenant id for an event about no tenant, and
    // leaves out `userId` and `data` when they are not set.
    let (status, response) = server.post(
        EVENT,
        json!({ "action": "NightlyCheck", "type": "info", "actorId": "cron", "tenantId": "" }),
    );
    assert_eq!(status, 200, "response: {response}");
    let response = search(&server, json!({ "actions": ["NightlyCheck"] }));
    let record = &audits(&response)[0];
    assert_eq!(record["userId"], "");
    assert_eq!(record["tenants"], json!([]));
    assert_eq!(record["externalIds"], json!([]));
    assert_eq!(record["data"], json!({}));
    server.stop();
}

#[test]
fn event_errors_name_field() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let user_id = create_user(&server, "ada@acme.com");
    let events_before = search(&server, json!({}))["total"].clone();
    let valid = json!({ "action": "InvoicePaid", "type": "info", "actorId": "billing", "tenantId": "" });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("body is an object").remove(field);
        body
    };

    let cases = [
        ("action", without("action"), "missing action"),
        ("action", with("action", json!("")), "empty action"),
        ("action", with("action", json!("   ")), "blank action"),
        ("action", with("action", json!("A".repeat(129))), "action over 128 bytes"),
        ("action", with("action", json!(7)), "action of the wrong type"),
        ("type", without("type"), "missing type"),
        ("type", with("type", json!("debug")), "unknown type"),
        ("type", with("type", json!("INFO")), "type in upper case"),
        ("type", with("type", json!(1)), "type of the wrong type"),
        ("actorId", without("actorId"), "missing actorId"),
        ("actorId", with("actorId", json!("")), "empty actorId"),
        ("actorId", with("actorId", json!("flow:welcome:R1")), "actorId of a flow run"),
        ("tenantId", with("tenantId", json!("T-missing")), "unknown tenant"),
        ("userId", with("userId", json!("U-missing")), "unknown user"),
        ("userId", with("userId", json!("ada@acme.com")), "login id as user id"),
        ("data", with("data", json!("text")), "data as a string"),
        ("data", with("data", json!([1, 2])), "data as an array"),
    ];
    for (field, body, case) in cases {
        let (status, response) = server.post(EVENT, body);
        assert_names_field(status, &response, field, case);
    }

    let (status, response) = server.post(EVENT, with("userId", json!(user_id)));
    assert_eq!(status, 200, "valid event with a user: {response}");
    let events_after = search(&server, json!({}))["total"].clone();
    assert_eq!(events_after, json!(events_before.as_u64().expect("total is a number") + 1));
    server.stop();
}

#[test]
fn search_errors_name_field() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());

    let cases = [
        ("actions", json!({ "actions": "UserCreated" }), "actions as a string"),
        ("userIds[0]", json!({ "userIds": [1, 2] }), "user ids as numbers"),
        ("noTenants", json!({ "noTenants": "yes" }), "noTenants as a string"),
        ("text", json!({ "text": ["a"] }), "text as an array"),
        ("from", json!({ "from": "yesterday" }), "from as a string"),
        ("to", json!({ "to": true }), "to as a boolean"),
        ("page", json!({ "page": -1 }), "negative page"),
        ("limit", json!({ "limit": 1.5 }), "fractional limit"),
    ];
    for (field, body, case) in cases {
        let (status, response) = server.post(SEARCH, body);
        assert_names_field(status, &response, field, case);
    }

    let (status, response) = server.call("POST", SEARCH, Some(json!({})), None);
    assert_eq!(status, 401, "search without credentials: {response}");
    server.stop();
}

#[test]
fn failed_change_records_nothing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    create_user(&server, "ada@acme.com");
    let before = search(&server, json!({}));

    let (status, response) = server.post("/v1/mgmt/user/create", json!({ "loginId": "ada@acme.com" }));
    assert_eq!(status, 409, "second create: {response}");
    let (status, response) = server.post(
        "/v1/mgmt/user/create",
        json!({ "loginId": "bob@acme.com", "userTenants": [{ "tenantId": "T-missing" }] }),
    );
    assert_eq!(status, 404, "create with an unknown tenant: {response}");

    let after = search(&server, json!({}));
    assert_eq!(after["total"], before["total"], "after: {after}");
    assert_eq!(after["audits"], before["audits"]);
    let created = search(&server, json!({ "actions": ["UserCreated"], "externalIds": ["ada@acme.com"] }));
    assert_eq!(created["total"], 1, "response: {created}");
    server.stop();
}

#[test]
fn search_pages_newest_first() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    for index in 0..5 {
        let body = json!({ "action": "PageEvent", "type": "info", "actorId": "pager", "tenantId": "", "data": { "index": index } });
        let (status, response) = server.post(EVENT, body);
        assert_eq!(status, 200, "event {index}: {response}");
    }
    let indexes = |response: &Value| -> Vec<i64> {
        audits(response).iter().map(|record| record["data"]["index"].as_i64().expect("index")).collect()
    };

    let pages: Vec<Value> = (0..4)
        .map(|page| search(&server, json!({ "actions": ["PageEvent"], "page": page, "limit": 2 })))
        .collect();

    assert_eq!(indexes(&pages[0]), [4, 3]);
    assert_eq!(indexes(&pages[1]), [2, 1]);
    assert_eq!(indexes(&pages[2]), [0]);
    assert_eq!(indexes(&pages[3]), Vec::<i64>::new());
    for page in &pages {
        assert_eq!(page["total"], 5, "page: {page}");
    }
    let default_page = search(&server, json!({ "actions": ["PageEvent"], "page": null, "limit": null }));
    assert_eq!(indexes(&default_page), [4, 3, 2, 1, 0]);
    let excluded = search(&server, json!({ "excludedActions": ["PageEvent"] }));
    assert!(audits(&excluded).iter().all(|record| record["action"] != "PageEvent"), "response: {excluded}");
    server.stop();
}
