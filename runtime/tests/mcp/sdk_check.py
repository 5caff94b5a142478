"""Discovers an MCP server's authorization server in Sluice and registers
clients with the MCP Python SDK's own OAuth helpers.

Reads the issuer URL from SLUICE_ISSUER. The script runs the SDK's RFC 8414
discovery: path-aware well-known URLs, metadata parsing and the issuer
check. Then it registers each client in CLIENTS with the SDK's RFC 7591
code: request building, response parsing and the usability check. It
prints one JSON line with the metadata it found and, per client, the
issued client id and whether it received a secret.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp.client.auth.oauth2 import check_registration_usable
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    create_client_registration_request,
    create_oauth_metadata_request,
    handle_auth_metadata_response,
    handle_registration_response,
    validate_metadata_issuer,
)
from mcp.shared.auth import OAuthClientMetadata

CLIENTS = {
    "local": OAuthClientMetadata(
        client_name="Local coding agent",
        redirect_uris=["http://127.0.0.1:33418/callback"],
        token_endpoint_auth_method="none",
        scope="docs:read",
    ),
    "remote": OAuthClientMetadata(
        client_name="Hosted agent",
        redirect_uris=["https://agent.other.test/oauth/callback"],
        token_endpoint_auth_method="client_secret_post",
        application_type="web",
    ),
}


async def discover(http, issuer):
    """Returns the metadata of the first discovery URL that serves it."""
    for url in build_oauth_authorization_server_metadata_discovery_urls(issuer, issuer):
        response = await http.send(create_oauth_metadata_request(url))
        keep_trying, metadata = await handle_auth_metadata_response(response)
        if metadata is not None:
            validate_metadata_issuer(metadata, issuer)
            return url, metadata
        if not keep_trying:
            break
    sys.exit(f"no authorization server metadata found for {issuer}")


async def main():
    issuer = os.environ["SLUICE_ISSUER"]
    async with httpx2.AsyncClient(timeout=30) as http:
        url, metadata = await discover(http, issuer)
        registered = {}
        for name, client_metadata in CLIENTS.items():
            request = create_client_registration_request(metadata, client_metadata, issuer)
            information = await handle_registration_response(await http.send(request))
            check_registration_usable(information)
            registered[name] = {
                "clientId": information.client_id,
                "hasSecret": information.client_secret is not None,
                "issuedAt": information.client_id_issued_at,
                "redirectUris": [str(uri) for uri in information.redirect_uris or []],
            }
    print(
        json.dumps(
            {
                "metadataUrl": url,
                "issuer": str(metadata.issuer),
                "registrationEndpoint": str(metadata.registration_endpoint),
                "codeChallengeMethods": metadata.code_challenge_methods_supported,
                "clients": registered,
            }
        )
    )


asyncio.run(main())
