//! Rendering cost of a typical step configuration and End step outputs.
//!
//! Run with `cargo bench -p sluice-flow --bench render`.

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented public function"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sluice_flow::ValueTemplate;

fn render(c: &mut Criterion) {
    let context = json!({
        "client": { "email": "ada@example.com", "plan": "pro" },
        "user": { "userId": "U1", "loginIds": ["ada@example.com"], "name": "Ada Lovelace" },
        "tenant": { "id": "T1", "name": "Acme" },
        "actions": { "lookup": { "items": [ { "id": "crm-1", "score": 0.9 } ] } },
        "connectors": {}
    });
    let config = ValueTemplate::parse(&json!({
        "loginId": "{{client.email}}",
        "customAttributes": { "plan": "{{client.plan}}", "crm": "{{actions.lookup.items[0].id}}" },
        "message": "Welcome {{user.name}} to {{tenant.name}}",
        "roles": ["member", "{{client.plan}}"],
        "notify": true
    }))
    .expect("benchmark template parses");
    let literal = ValueTemplate::parse(&json!({ "all": [ { "key": "user.email", "operator": "ends-with", "value": "@acme.com" } ] }))
        .expect("benchmark template parses");

    c.bench_function("render config with 5 expressions", |b| {
        b.iter(|| black_box(&config).render(black_box(&context)))
    });
    c.bench_function("render literal condition config", |b| {
        b.iter(|| black_box(&literal).render(black_box(&context)))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
