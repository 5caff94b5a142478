use serde_json::{Value, json};
use sluice_sdk::StepError;
use sluice_sdk::mock::evaluate_condition;

use crate::PredicateCondition;

fn context() -> Value {
    json!({
        "client": {"loginId": "ada@acme.com", "age": "42", "score": 7.5, "tags": ["beta", "staff"], "flag": "TRUE"},
        "user": {
            "userId": "U1",
            "email": "ada@acme.com",
            "verifiedEmail": true,
            "phone": null,
            "name": "",
            "roleNames": [],
            "customAttributes": {},
            "userTenants": [{"tenantId": "t1", "roleNames": ["admin"]}]
        }
    })
}

fn branch(config: Value) -> Result<String, StepError> {
    evaluate_condition::<PredicateCondition>(config, context())
}

fn check(key: &str, operator: &str, value: Value) -> bool {
    let config = json!({"key": key, "operator": operator, "value": value});
    match branch(config) {
        Ok(branch) => branch == "true",
        Err(error) => panic!("{key} {operator}: {error}"),
    }
}

fn check_unary(key: &str, operator: &str) -> bool {
    let config = json!({"key": key, "operator": operator});
    match branch(config) {
        Ok(branch) => branch == "true",
        Err(error) => panic!("{key} {operator}: {error}"),
    }
}

fn config_error(config: Value) -> StepError {
    let error = branch(config).expect_err("the config is invalid");
    assert_eq!(error.kind(), "invalid-config", "{error}");
    error
}

#[test]
fn equals_and_not_equals() {
    assert!(check("user.email", "equals", json!("ada@acme.com")));
    assert!(!check("user.email", "equals", json!("bob@acme.com")));
    assert!(check("user.email", "not-equals", json!("bob@acme.com")));
    assert!(check("client.age", "equals", json!(42)));
    assert!(check("client.score", "equals", json!("7.5")));
    assert!(check("user.verifiedEmail", "equals", json!("true")));
    assert!(check("user.verifiedEmail", "equals", json!(true)));
    assert!(check("user.missing", "equals", json!(null)));
    assert!(check("user.phone", "equals", json!(null)));
    assert!(check(
        "user.userTenants[0]",
        "equals",
        json!({"tenantId": "t1", "roleNames": ["admin"]})
    ));
    assert!(!check("client.age", "equals", json!("forty-two")));
}

#[test]
fn contains_string_and_array() {
    assert!(check("user.email", "contains", json!("@acme")));
    assert!(!check("user.email", "contains", json!("@example")));
    assert!(check("client.tags", "contains", json!("staff")));
    assert!(!check("client.tags", "contains", json!("admin")));
    assert!(check(
        "user.userTenants[0].roleNames",
        "contains",
        json!("admin")
    ));
    assert!(!check("user.missing", "contains", json!("x")));
    assert!(!check("user.verifiedEmail", "contains", json!("t")));
}

#[test]
fn starts_and_ends_with() {
    assert!(check("user.email", "starts-with", json!("ada@")));
    assert!(!check("user.email", "starts-with", json!("bob@")));
    assert!(check("user.email", "ends-with", json!("@acme.com")));
    assert!(!check("user.email", "ends-with", json!("@acme.org")));
    assert!(check("client.age", "starts-with", json!(4)));
    assert!(!check("user.missing", "ends-with", json!("x")));
}

#[test]
fn matches_regular_expression() {
    assert!(check("user.email", "matches", json!(r"^[a-z]+@acme\.com$")));
    assert!(!check("user.email", "matches", json!(r"^[0-9]+$")));
    assert!(check("user.email", "matches", json!("(?i)ADA@ACME")));
    assert!(check("client.score", "matches", json!(r"^\d+\.\d$")));
    assert!(!check("user.missing", "matches", json!(".*")));
}

#[test]
fn numeric_comparisons() {
    assert!(check("client.age", "greater-than", json!(41)));
    assert!(!check("client.age", "greater-than", json!(42)));
    assert!(check("client.age", "greater-than-or-equal", json!("42")));
    assert!(check("client.score", "less-than", json!(8)));
    assert!(!check("client.score", "less-than", json!(7.5)));
    assert!(check("client.score", "less-than-or-equal", json!(7.5)));
    assert!(!check("user.email", "greater-than", json!(0)));
    assert!(!check("user.missing", "less-than", json!(0)));
}

#[test]
fn emptiness_and_existence() {
    assert!(check_unary("user.name", "is-empty"));
    assert!(check_unary("user.roleNames", "is-empty"));
    assert!(check_unary("user.customAttributes", "is-empty"));
    assert!(check_unary("user.phone", "is-empty"));
    assert!(check_unary("user.missing", "is-empty"));
    assert!(!check_unary("user.email", "is-empty"));
    assert!(check_unary("user.email", "is-not-empty"));
    assert!(!check_unary("user.name", "is-not-empty"));
    assert!(check_unary("user.email", "exists"));
    assert!(check_unary("user.name", "exists"));
    assert!(!check_unary("user.phone", "exists"));
    assert!(!check_unary("user.missing", "exists"));
}

#[test]
fn truth_operators() {
    assert!(check_unary("user.verifiedEmail", "is-true"));
    assert!(!check_unary("user.verifiedEmail", "is-false"));
    assert!(check_unary("client.flag", "is-true"));
    assert!(!check_unary("user.email", "is-true"));
    assert!(!check_unary("user.email", "is-false"));
    assert!(!check_unary("user.missing", "is-false"));
}

#[test]
fn in_list() {
    assert!(check(
        "user.email",
        "in",
        json!(["bob@acme.com", "ada@acme.com"])
    ));
    assert!(!check("user.email", "in", json!(["bob@acme.com"])));
    assert!(check("client.age", "in", json!([41, 42])));
    assert!(!check("client.age", "in", json!([])));
}

#[test]
fn groups_combine_predicates() {
    let is_acme = json!({"key": "user.email", "operator": "ends-with", "value": "@acme.com"});
    let is_beta = json!({"key": "client.tags", "operator": "contains", "value": "beta"});
    let is_admin = json!({"key": "user.roleNames", "operator": "contains", "value": "admin"});

    assert_eq!(
        branch(json!({"all": [is_acme, is_beta]})),
        Ok("true".into())
    );
    assert_eq!(
        branch(json!({"all": [is_acme, is_admin]})),
        Ok("false".into())
    );
    assert_eq!(
        branch(json!({"any": [is_admin, is_beta]})),
        Ok("true".into())
    );
    assert_eq!(branch(json!({"any": [is_admin]})), Ok("false".into()));
    assert_eq!(branch(json!({"not": is_admin})), Ok("true".into()));
    assert_eq!(
        branch(json!({"all": [is_acme, {"any": [is_admin, {"not": is_admin}]}]})),
        Ok("true".into())
    );
}

#[test]
fn empty_groups() {
    assert_eq!(branch(json!({"all": []})), Ok("true".into()));
    assert_eq!(branch(json!({"any": []})), Ok("false".into()));
}

#[test]
fn single_predicate_config() {
    let config = json!({"key": "user.email", "operator": "exists"});
    assert_eq!(branch(config), Ok("true".into()));
}

#[test]
fn unknown_operator_lists_valid_ones() {
    let error =
        config_error(json!({"all": [{"key": "user.email", "operator": "like", "value": "x"}]}));

    assert!(error.message().contains("`all[0].operator`"), "{error}");
    assert!(error.message().contains("\"like\""), "{error}");
    assert!(error.message().contains("greater-than-or-equal"), "{error}");
    assert!(error.message().contains("is-not-empty"), "{error}");
}

#[test]
fn invalid_regex_is_named() {
    let error = config_error(json!({"key": "user.email", "operator": "matches", "value": "a(b"}));

    assert!(error.message().contains("`value`"), "{error}");
    assert!(error.message().contains("a(b"), "{error}");
}

#[test]
fn invalid_operands_are_rejected() {
    let cases = [
        json!({"key": "client.age", "operator": "greater-than", "value": "old"}),
        json!({"key": "client.age", "operator": "greater-than"}),
        json!({"key": "user.email", "operator": "in", "value": "a"}),
        json!({"key": "user.email", "operator": "starts-with", "value": true}),
        json!({"key": "user.email", "operator": "equals"}),
        json!({"key": "user.email", "operator": "matches", "value": 3}),
    ];
    for config in cases {
        let error = config_error(config.clone());
        assert!(error.message().contains("`value`"), "{config}: {error}");
    }
}

#[test]
fn malformed_structure_is_rejected() {
    let cases = [
        (json!([]), "invalid config:"),
        (json!({"operator": "exists"}), "`key`"),
        (json!({"key": 3, "operator": "exists"}), "`key`"),
        (json!({"key": "user..email", "operator": "exists"}), "`key`"),
        (json!({"key": "user.email"}), "`operator`"),
        (
            json!({"key": "user.email", "operator": "exists", "extra": 1}),
            "`extra`",
        ),
        (json!({"all": {"key": "user.email"}}), "`all`"),
        (json!({"all": [], "any": []}), "all and any"),
        (json!({"all": [], "key": "user.email"}), "no other fields"),
        (json!({"any": [1]}), "`any[0]`"),
        (json!({"not": []}), "`not`"),
    ];
    for (config, expected) in cases {
        let error = config_error(config.clone());
        assert!(error.message().contains(expected), "{config}: {error}");
    }
}

#[test]
fn unreached_branch_is_still_checked() {
    let valid = json!({"key": "user.email", "operator": "exists"});
    let broken = json!({"key": "user.email", "operator": "nope"});

    config_error(json!({"any": [valid, broken]}));
}

#[test]
fn deep_nesting_is_rejected() {
    let mut config = json!({"key": "user.email", "operator": "exists"});
    for _ in 0..40 {
        config = json!({"not": config});
    }

    let error = config_error(config);

    assert!(error.message().contains("nested"), "{error}");
}

fn registration_context() -> Value {
    json!({
        "client": {
            "metadata": {"redirect_uris": ["http://127.0.0.1:3000/cb", "https://app.example.com/cb"], "empty": []},
            "server": {"approvedDomains": ["example.com"]}
        }
    })
}

fn registration_branch(config: Value) -> Result<String, StepError> {
    evaluate_condition::<PredicateCondition>(config, registration_context())
}

#[test]
fn in_domain_matches_hosts_and_subdomains() {
    let domains = json!(["example.com", "Acme.Test"]);
    let cases = [
        ("https://example.com/cb", true),
        ("https://app.example.com:8443/cb?x=1", true),
        ("https://user@APP.EXAMPLE.COM/cb", true),
        ("app.acme.test", true),
        ("https://badexample.com/cb", false),
        ("https://example.com.evil.test/cb", false),
        ("https://[::1]/cb", false),
        ("", false),
    ];
    for (url, expected) in cases {
        let config = json!({"key": "client.url", "operator": "in-domain", "value": domains});
        let context = json!({"client": {"url": url}});
        let branch = evaluate_condition::<PredicateCondition>(config, context).expect("evaluates");
        assert_eq!(branch == "true", expected, "{url}");
    }
}

#[test]
fn in_domain_rejects_bad_operand() {
    for value in [json!("example.com"), json!(["https://example.com"]), json!([""]), json!([1])] {
        let config = json!({"key": "client.url", "operator": "in-domain", "value": value});
        let error = branch(config).expect_err("invalid operand");
        assert_eq!(error.kind(), "invalid-config", "{value}");
        assert!(error.message().contains("`value`"), "{value}: {error}");
    }
}

#[test]
fn every_tests_each_element() {
    let loopback_or_approved = json!({"every": {"key": "client.metadata.redirect_uris", "match": {"any": [
        {"key": "item", "operator": "matches", "value": "^http://(127\\.0\\.0\\.1|\\[::1\\]|localhost)(:[0-9]+)?/"},
        {"key": "item", "operator": "in-domain", "value": ["example.com"]}
    ]}}});
    let all_https = json!({"every": {"key": "client.metadata.redirect_uris", "match":
        {"key": "item", "operator": "starts-with", "value": "https://"}}});

    assert_eq!(registration_branch(loopback_or_approved).expect("evaluates"), "true");
    assert_eq!(registration_branch(all_https).expect("evaluates"), "false");
}

#[test]
fn every_reads_outer_context_inside() {
    let config = json!({"every": {"key": "client.metadata.redirect_uris", "match": {"any": [
        {"key": "item", "operator": "starts-with", "value": "http://127.0.0.1"},
        {"key": "client.server.approvedDomains", "operator": "contains", "value": "example.com"}
    ]}}});

    assert_eq!(registration_branch(config).expect("evaluates"), "true");
}

#[test]
fn every_and_some_edge_cases() {
    let cases = [
        (json!({"every": {"key": "client.metadata.empty", "match": {"key": "item", "operator": "exists"}}}), "true"),
        (json!({"some": {"key": "client.metadata.empty", "match": {"key": "item", "operator": "exists"}}}), "false"),
        (json!({"every": {"key": "client.missing", "match": {"key": "item", "operator": "exists"}}}), "false"),
        (json!({"every": {"key": "client.server", "match": {"key": "item", "operator": "exists"}}}), "false"),
        (
            json!({"some": {"key": "client.metadata.redirect_uris", "match":
                {"key": "item", "operator": "starts-with", "value": "https://"}}}),
            "true",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(registration_branch(config.clone()).expect("evaluates"), expected, "{config}");
    }
}

#[test]
fn every_config_errors_name_the_field() {
    let cases = [
        (json!({"every": "client.metadata.redirect_uris"}), "every"),
        (json!({"every": {"match": {"key": "item", "operator": "exists"}}}), "every.key"),
        (json!({"every": {"key": "client.metadata.redirect_uris"}}), "every.match"),
        (json!({"every": {"key": "client.x", "match": {"key": "item", "operator": "nope"}}}), "every.match.operator"),
        (json!({"some": {"key": "client.x", "match": {}, "extra": 1}}), "some.extra"),
    ];
    for (config, field) in cases {
        let error = registration_branch(config.clone()).expect_err("invalid config");
        assert_eq!(error.kind(), "invalid-config", "{config}");
        assert!(error.message().contains(&format!("`{field}`")), "{config}: {error}");
    }
}
