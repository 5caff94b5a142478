"""Drive a Sluice server with Descope's own Python SDK.

Reads SLUICE_BASE_URL, SLUICE_PROJECT_ID and SLUICE_MANAGEMENT_KEY, creates a
user, loads it back, runs a management flow, records a custom audit event and
searches for it, and prints what the flow returned and the audit record found
as one JSON line on stdout.
"""

import json
import os
from datetime import datetime, timedelta, timezone

from descope import DescopeClient

client = DescopeClient(
    project_id=os.environ["SLUICE_PROJECT_ID"],
    management_key=os.environ["SLUICE_MANAGEMENT_KEY"],
    base_url=os.environ["SLUICE_BASE_URL"],
)

created = client.mgmt.user.create(
    login_id="ada@acme.com",
    email="ada@acme.com",
    display_name="Ada Lovelace",
    role_names=["viewer"],
)["user"]
loaded = client.mgmt.user.load("ada@acme.com")["user"]
assert loaded["userId"] == created["userId"], (loaded, created)

result = client.mgmt.flow.run_flow(
    "welcome-acme-user",
    {"input": {"email": "ada@acme.com", "plan": "pro"}},
)
# The SDK sends `from` and `to` as whole milliseconds, and both bounds are
# inclusive. `started` is one second before the event, so the event is
# never at `to_ts=started` itself.
started = datetime.now(timezone.utc) - timedelta(seconds=1)
client.mgmt.tenant.create(name="Acme", id="T-acme")
client.mgmt.audit.create_event(
    action="InvoicePaid",
    type="warn",
    actor_id="billing-service",
    tenant_id="T-acme",
    user_id=created["userId"],
    data={"invoice": "INV-42", "amount": 12},
)

by_action = client.mgmt.audit.search(actions=["InvoicePaid"])["audits"]
assert len(by_action) == 1, by_action
since_start = client.mgmt.audit.search(from_ts=started)["audits"]
assert [a["action"] for a in since_start].count("InvoicePaid") == 1, since_start
in_future = client.mgmt.audit.search(from_ts=datetime.now(timezone.utc) + timedelta(minutes=5))["audits"]
assert in_future == [], in_future
before_start = client.mgmt.audit.search(actions=["InvoicePaid"], to_ts=started)["audits"]
assert before_start == [], before_start

record = by_action[0]
audit = {key: record[key] for key in ("userId", "action", "remoteAddress", "loginIds", "tenants", "data")}
audit["occurred"] = record["occurred"].isoformat()
print(json.dumps({"userId": created["userId"], "output": result["output"], "audit": audit}))
