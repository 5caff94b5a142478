"""Connector `examples/py-notify`: posts a "user provisioned" notice as JSON.

The notice goes to the connector instance's base URL, plus the step's
optional `path`, through `wasi:http/outgoing-handler`. A step that names no
instance sets `url` instead, and the manifest's `egress` must list its
origin. Step config:

    {"loginId": "ada@acme.com", "email": "ada@acme.com",
     "displayName": "Ada", "path": "/provisioned", "timeoutMs": 5000}

`loginId` is required, and a field whose value is null counts as absent.
The request body is

    {"event": "user.provisioned", "loginId": ..., "email": ...,
     "displayName": ...}

with absent fields left out. The result, stored at `connectors.<key>`, is
`{"status": 200, "delivered": true}`, plus `response` when the receiver
replies with JSON. A status other than 2xx fails the step with kind
`upstream-failure`; redirects are not followed.
"""

import json
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import connector_config, log, outgoing_handler, streams
from wit_world.imports.sluice_flow_types import (
    StepError_Internal,
    StepError_InvalidConfig,
    StepError_UpstreamFailure,
)
from wit_world.imports.wasi_http_types import (
    ErrorCode_HttpRequestDenied,
    Fields,
    Method_Post,
    OutgoingBody,
    OutgoingRequest,
    RequestOptions,
    Scheme_Http,
    Scheme_Https,
)

EVENT = "user.provisioned"

# Maximum request body size in bytes. wasi:io output streams take at most 4096 bytes in one
# `blocking-write-and-flush`, and the body is written in one call before the
# request is sent (see `post_json`).
MAX_NOTICE_BYTES = 4096

# Bytes per read call on the response body.
READ_CHUNK_BYTES = 65536

# Characters of a non-JSON reply quoted in an upstream-failure message.
REPLY_EXCERPT_CHARS = 200

OPTIONAL_TEXT_FIELDS = ("email", "displayName")
KNOWN_FIELDS = {"loginId", "path", "timeoutMs", "url", *OPTIONAL_TEXT_FIELDS}


def invalid_config(message: str) -> Err:
    return Err(StepError_InvalidConfig(message))


def parse_config(text: str) -> dict:
    """Parse and check the step's rendered config, a JSON object."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise invalid_config(f"the step config is not valid JSON: {err}")
    if not isinstance(config, dict):
        raise invalid_config("the step config must be a JSON object")

    unknown = sorted(set(config) - KNOWN_FIELDS)
    if unknown:
        raise invalid_config(
            f"unknown config field `{unknown[0]}`: remove it. The fields are "
            + ", ".join(f"`{name}`" for name in sorted(KNOWN_FIELDS))
        )

    login_id = config.get("loginId")
    if not isinstance(login_id, str) or not login_id.strip():
        raise invalid_config("missing config field `loginId`: set it to the provisioned user's login id")
    # A template that reads a missing path, such as `{{user.name}}` for a
    # user without a name, renders to null, so null means absent.
    config = {name: value for name, value in config.items() if value is not None}
    for name in OPTIONAL_TEXT_FIELDS:
        if name in config and not isinstance(config[name], str):
            raise invalid_config(f"invalid config field `{name}`: it must be a string")

    path = config.get("path", "")
    if not isinstance(path, str) or (path and (not path.startswith("/") or path.startswith("//"))):
        raise invalid_config("invalid config field `path`: it must be a string that starts with a single `/`")

    timeout_ms = config.get("timeoutMs")
    if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise invalid_config("invalid config field `timeoutMs`: it must be a positive whole number of milliseconds")
    return config


def notice_url(settings: dict) -> tuple:
    """Return (URL, where it came from): the instance's baseUrl, else the step's `url`."""
    base_url = connector_config.get("baseUrl")
    url = settings.get("url")
    if base_url is not None:
        if url is not None:
            raise invalid_config(
                "invalid config field `url`: the step names a connector instance, whose `baseUrl` is the target, "
                "so remove `url`"
            )
        return base_url, "the instance's `baseUrl`"
    if url is None:
        raise invalid_config(
            "the step has no connector instance and no `url`: set the step's `connector` to an instance whose "
            "`baseUrl` receives the notices, or set `url` to an origin listed in the manifest's `egress`"
        )
    if not isinstance(url, str):
        raise invalid_config("invalid config field `url`: it must be a string")
    return url, "config field `url`"


def notice_target(url: str, source: str, path: str) -> tuple:
    """Split the URL plus `path` into (scheme, authority, path with query)."""
    parts = urlsplit(url)
    if parts.scheme == "http":
        scheme = Scheme_Http()
    elif parts.scheme == "https":
        scheme = Scheme_Https()
    else:
        raise invalid_config(f"{source} {url!r} must be an http or https URL")
    if not parts.netloc:
        raise invalid_config(f"{source} {url!r} has no host")

    target = parts.path.rstrip("/") + path if path else parts.path
    target = target or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, parts.netloc, target


def write_body(body: OutgoingBody, payload: bytes) -> None:
    """Write the whole request body in one call, then finish it."""
    with body.write() as stream:
        stream.blocking_write_and_flush(payload)
    # The stream must be dropped (the `with` above) before the body is finished.
    OutgoingBody.finish(body, None)


def read_body(response) -> bytes:
    """Read the response body to its end. The host caps its size."""
    chunks = []
    with response.consume() as body:
        with body.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(READ_CHUNK_BYTES))
                except Err as err:
                    if isinstance(err.value, streams.StreamError_Closed):
                        break
                    raise Err(StepError_UpstreamFailure(f"reading the response body failed: {err.value}"))
    return b"".join(chunks)


def post_json(scheme, authority: str, target: str, payload: bytes, timeout_ms) -> tuple:
    """Send one POST request and return (status, body bytes)."""
    # Some webhook receivers reject chunked bodies, so the length is sent.
    headers = Fields.from_list(
        [
            ("content-type", b"application/json"),
            ("content-length", str(len(payload)).encode()),
            ("x-sluice-event", EVENT.encode()),
        ]
    )
    request = OutgoingRequest(headers)
    request.set_method(Method_Post())
    request.set_scheme(scheme)
    request.set_authority(authority)
    request.set_path_with_query(target)
    # The body goes into the host's buffer before `handle` sends the request.
    # NOTE: written after `handle`, a write to a request that the host denied
    # traps in componentize-py 0.25.1 (KeyError on StreamError_Closed)
    # instead of raising Err, so the step would fail as a trap, not `denied`.
    write_body(request.body(), payload)

    options = None
    if timeout_ms is not None:
        nanoseconds = timeout_ms * 1_000_000
        options = RequestOptions()
        options.set_connect_timeout(nanoseconds)
        options.set_first_byte_timeout(nanoseconds)
        options.set_between_bytes_timeout(nanoseconds)

    try:
        future = outgoing_handler.handle(request, options)
    except Err as err:
        raise http_failure(err.value)

    with future:
        with future.subscribe() as pollable:
            pollable.block()
        outcome = future.get()
    # `outcome` is None before the response is ready, Err when it was
    # already taken, else Ok(Ok(response)) or Ok(Err(error code)).
    if outcome is None or isinstance(outcome, Err):
        raise Err(StepError_Internal("the response was not available after waiting for it"))
    inner = outcome.value
    if isinstance(inner, Err):
        raise http_failure(inner.value)
    with inner.value as response:
        status = response.status()
        return status, read_body(response)


def http_failure(code) -> Err:
    # The host replaces this message with its own, which names the target,
    # when its egress policy denied the request.
    if isinstance(code, ErrorCode_HttpRequestDenied):
        return Err(StepError_UpstreamFailure("the host denied the request"))
    return Err(StepError_UpstreamFailure(f"the request failed: {type(code).__name__.removeprefix('ErrorCode_')}"))


class ConnectorStep(exports.ConnectorStep):
    def run(self, config: str) -> str:
        settings = parse_config(config)
        url, source = notice_url(settings)
        scheme, authority, target = notice_target(url, source, settings.get("path", ""))

        notice = {"event": EVENT, "loginId": settings["loginId"]}
        for name in OPTIONAL_TEXT_FIELDS:
            if name in settings:
                notice[name] = settings[name]
        payload = json.dumps(notice).encode()
        if len(payload) > MAX_NOTICE_BYTES:
            raise invalid_config(
                f"the notice is {len(payload)} bytes, over the maximum of {MAX_NOTICE_BYTES}: "
                "shorten `loginId`, `email` or `displayName`"
            )

        status, reply = post_json(scheme, authority, target, payload, settings.get("timeoutMs"))
        text = reply.decode("utf-8", errors="replace")
        if not 200 <= status < 300:
            raise Err(
                StepError_UpstreamFailure(
                    f"the receiver returned status {status}: {text[:REPLY_EXCERPT_CHARS]}"
                )
            )
        log.log(log.Level.INFO, f"Posted {EVENT} notice for {settings['loginId']}: status {status}")

        result = {"status": status, "delivered": True}
        try:
            result["response"] = json.loads(text)
        except json.JSONDecodeError:
            pass
        return json.dumps(result)
