"""Drive a Sluice server with Descope's own Python SDK.

Reads SLUICE_BASE_URL, SLUICE_PROJECT_ID and SLUICE_MANAGEMENT_KEY, creates a
user, loads it back, runs a management flow and prints what the flow returned
as one JSON line on stdout.
"""

import json
import os

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
print(json.dumps({"userId": created["userId"], "output": result["output"]}))
