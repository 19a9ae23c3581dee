"""A direct HTTP transport for the OpenAI chat-completions wire protocol (OpenAI-compatible and Azure OpenAI).

LiteLLM's ``acompletion`` costs 8-9 ms of client CPU a call (the OpenAI SDK's request building, LiteLLM's
response object, cost and logging hooks, an executor hop); at concurrency 16 on two cores that makes a
run CPU-bound. ``OpenAIHTTPTransport`` POSTs the body LiteLLM would send over one keep-alive
``aiohttp`` session and returns the provider's JSON as it came: about a tenth of LiteLLM's client CPU
(0.6 ms against 7 ms a call through the gateway at concurrency 16, on two cores, against a local
simulator).

It sends a call only when it can send it exactly as LiteLLM does (``direct_route``): an ``openai/`` model
or an ``azure/`` deployment with an API key, plain text messages, and parameters LiteLLM passes through
unchanged. Everything else (reasoning models whose parameters LiteLLM rewrites, Azure AD tokens, the
Azure v1 API, proxies, custom TLS settings, tools, multimodal messages, other providers) goes through
LiteLLM; ``TransportRouter`` makes that choice per call, in one place. The answer's dict is the
provider's JSON rather than LiteLLM's re-serialised ``ModelResponse``: the same ``choices``, ``usage``
and ``finish_reason`` (what the gateway, the cache and DSPy read), without LiteLLM's added ``None``
fields. Cached answers from either transport serve both.

Failures are classified in ``map_http_error`` by status code and the provider's error code, never by
message text, mirroring ``gateway.transports.litellm.map_litellm_error``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gateway import errors
from gateway.redaction import clip, known_secrets, redact_text
from gateway.transports._base import Transport
from gateway.transports.headers import kept_headers, retry_after_from_headers, throttle_wait
from gateway.transports.litellm import LiteLLMTransport, insufficient_quota_message, redacted_message
from gateway.types import ChatCall, ProviderReply

if TYPE_CHECKING:
    import ssl

    import aiohttp

TRANSPORT_CHOICES: tuple[str, ...] = ("auto", "litellm")

DEFAULT_OPENAI_API_BASE = "https://api.openai.com/v1"

# Parameters both LiteLLM's OpenAI and Azure configurations copy into the body unchanged for the
# models routed here (tests/gateway/test_http_transport.py compares the bodies). ``user`` is left
# out: LiteLLM refuses it for models outside OpenAI's catalogue.
PASS_THROUGH_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "seed",
        "logprobs",
        "top_logprobs",
    }
)
# LiteLLM refuses response_format for these OpenAI models; for Azure it rewrites or drops the parameter
# depending on the API version and deployment name, so Azure calls carrying it stay on LiteLLM.
_NO_RESPONSE_FORMAT = frozenset({"gpt-4", "gpt-3.5-turbo-16k"})
_OPENAI_PARAMS = PASS_THROUGH_PARAMS | {"response_format"}
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})

# Model-name fragments for which LiteLLM picks another request configuration (o-series and gpt-5
# reasoning models rename max_tokens and drop temperature; audio, realtime and search models take other
# parameters). Matched more broadly than LiteLLM does: a false match only costs LiteLLM's overhead.
_SPECIAL_MODEL_MARKERS = (
    "o1",
    "o3",
    "o4",
    "gpt-5",
    "gpt-6",
    "gpt5",
    "o_series",
    "audio",
    "realtime",
    "search",
    "codex",
)
_O_SERIES_NAME = re.compile(r"o\d")
_DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9._-]+")
_DATED_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")

# Environment that changes what LiteLLM or the OpenAI SDK sends or how it connects: organisation and
# project headers, proxies, client certificates and TLS tuning, LiteLLM's message rewriting. When any
# is set, LiteLLM sends. (SSL_CERT_FILE and SSL_CERT_DIR are common and honoured here: _tls_context.)
_LITELLM_ONLY_ENV = (
    "OPENAI_ORGANIZATION",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "LITELLM_MODIFY_PARAMS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "SSL_VERIFY",
    "SSL_CERTIFICATE",
    "SSL_SECURITY_LEVEL",
    "SSL_ECDH_CURVE",
)
# With these set, LiteLLM hands the Azure SDK an AD token, which then wins over the API key.
_AZURE_TOKEN_ENV = ("AZURE_AD_TOKEN", "AZURE_USERNAME")


@dataclass(frozen=True)
class DirectRoute:
    """Where one call goes on the wire: the URL, the credential header and the ``model`` of the body."""

    url: str
    auth_name: str
    auth_value: str = field(repr=False)
    body_model: str
    api_key: str = field(repr=False)  # kept to redact it from error messages

    @property
    def headers(self) -> dict[str, str]:
        """The request headers (the credential included: for the wire only)."""
        return {"Content-Type": "application/json", "Accept": "application/json", self.auth_name: self.auth_value}


def direct_route(call: ChatCall, env: Mapping[str, str] | None = None) -> DirectRoute | None:
    """The wire route of ``call`` when the direct transport sends exactly what LiteLLM would; else None."""
    env = os.environ if env is None else env
    if any(env.get(name) for name in _LITELLM_ONLY_ENV) or not _plain_messages(call.messages):
        return None
    model = call.endpoint.model
    if model.startswith("azure/"):
        return _azure_route(call, env)
    if model.startswith("openai/"):
        return _openai_route(call, env)
    return None


def _openai_route(call: ChatCall, env: Mapping[str, str]) -> DirectRoute | None:
    endpoint = call.endpoint
    name = endpoint.model.removeprefix("openai/")
    if not name or name.startswith("responses/") or _special_model(name) or not _plain_params(call.params):
        return None
    if "response_format" in call.params and name in _NO_RESPONSE_FORMAT:
        return None
    # The order LiteLLM resolves them in: the endpoint's own, then the OpenAI SDK's variables.
    key = endpoint.api_key or env.get("OPENAI_API_KEY")
    base = endpoint.api_base or env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_BASE") or DEFAULT_OPENAI_API_BASE
    if not key or not _plain_base(base):
        return None
    return DirectRoute(f"{base.rstrip('/')}/chat/completions", "Authorization", f"Bearer {key}", name, key)


def _azure_route(call: ChatCall, env: Mapping[str, str]) -> DirectRoute | None:
    endpoint = call.endpoint
    deployment = endpoint.model.removeprefix("azure/")
    version = endpoint.api_version or ""
    base = endpoint.api_base or ""
    key = endpoint.api_key
    # Without a key LiteLLM authenticates with an Azure AD token; an undated api-version selects the
    # v1 API at another path; a base already holding /openai is used by the SDK as it is.
    if not key or any(env.get(name) for name in _AZURE_TOKEN_ENV):
        return None
    if not _DEPLOYMENT_NAME.fullmatch(deployment) or _special_model(deployment):
        return None
    if not _DATED_API_VERSION.fullmatch(version) or not _plain_base(base) or "/openai" in urlsplit(base).path:
        return None
    if not _plain_params(call.params, allowed=PASS_THROUGH_PARAMS):
        return None
    url = f"{base.rstrip('/')}/openai/deployments/{deployment}/chat/completions?api-version={version}"
    return DirectRoute(url, "api-key", key, deployment, key)


def _special_model(name: str) -> bool:
    lowered = name.lower()
    return bool(_O_SERIES_NAME.match(lowered)) or any(marker in lowered for marker in _SPECIAL_MODEL_MARKERS)


def _plain_base(base: str) -> bool:
    parts = urlsplit(base)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and parts.username is None
        and "cloudflare" not in (parts.hostname or "")
    )


def _plain_messages(messages: Any) -> bool:
    # Plain text turns are sent verbatim by LiteLLM; lists of parts, tool turns and names are rewritten.
    return bool(messages) and all(
        isinstance(m, Mapping)
        and m.keys() <= {"role", "content"}
        and m.get("role") in _PLAIN_ROLES
        and isinstance(m.get("content"), str)
        for m in messages
    )


def _plain_params(params: Mapping[str, Any], allowed: frozenset[str] = _OPENAI_PARAMS) -> bool:
    for name, value in params.items():
        if value is None:
            continue  # LiteLLM leaves unset parameters out; so does request_body
        if name not in allowed:
            return False
        if name == "response_format" and not isinstance(value, Mapping):
            return False
    return True


def request_body(route: DirectRoute, call: ChatCall) -> bytes:
    """The JSON body, serialised as the OpenAI SDK does (compact, UTF-8, no NaN)."""
    body: dict[str, Any] = {"messages": [dict(m) for m in call.messages], "model": route.body_model}
    body.update((k, v) for k, v in call.params.items() if v is not None)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


# -- errors ---------------------------------------------------------------------------------------
class ProviderHTTPError(Exception):
    """A response with a status other than 2xx, as the provider sent it."""

    def __init__(self, status: int, headers: Mapping[str, str], payload: bytes, *, api_key: str | None = None) -> None:
        self.status_code = status
        self.headers = dict(headers)
        self.body = _json_object(payload)
        error = self.body.get("error") if isinstance(self.body, dict) else None
        self.error: dict[str, Any] = error if isinstance(error, dict) else {}
        message = self.error.get("message")
        # Providers quote the key they were sent ("Incorrect API key provided: ..."); this exception is
        # chained to ours and would print it with a traceback. Redacted before the cut, never after.
        secrets = [api_key, *known_secrets()] if api_key else None
        detail = redact_text(str(message or payload.decode("utf-8", "replace")), secrets)
        if not message:
            detail = clip(detail, 200)
        super().__init__(f"HTTP {status}: {detail}".strip())

    @property
    def codes(self) -> set[str]:
        """The provider's error codes: OpenAI's ``code`` and ``type``, Azure's ``innererror.code``."""
        inner = self.error.get("innererror")
        found = {
            self.error.get("code"),
            self.error.get("type"),
            inner.get("code") if isinstance(inner, dict) else None,
        }
        return {str(c) for c in found if c}


class MalformedResponse(Exception):
    """A 2xx response whose body is not a chat-completion JSON object."""


def map_http_error(exc: BaseException, *, api_key: str | None = None) -> errors.GatewayError:
    """Classify an error status, a malformed body or an aiohttp/socket failure as one of ours."""
    message = redacted_message(exc, secrets=[api_key] if api_key else [])
    if isinstance(exc, ProviderHTTPError):
        return _status_error(exc, message)
    import aiohttp

    if isinstance(exc, TimeoutError):  # asyncio's and aiohttp's timeouts are TimeoutError subclasses
        # A connect timeout never sent the request; any other may have reached the provider (money in doubt).
        return errors.RequestTimeout(message, in_doubt=not isinstance(exc, aiohttp.ConnectionTimeoutError))
    if isinstance(exc, MalformedResponse):
        return errors.Unavailable(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return errors.ConfigurationError(message)
    # Refused, reset and dropped connections, truncated bodies, DNS failures: all worth another try. Only
    # a connection that never opened is sure not to have carried the request.
    return errors.Unavailable(message, in_doubt=not isinstance(exc, aiohttp.ClientConnectorError))


def _status_error(exc: ProviderHTTPError, message: str) -> errors.GatewayError:
    status = exc.status_code
    headers = kept_headers(exc.headers)
    if status == 429:
        if "insufficient_quota" in exc.codes:  # billing, not a rate: waiting cannot help
            return errors.QuotaExhausted(insufficient_quota_message(message))
        return errors.RateLimited(message, retry_after=throttle_wait(headers), headers=headers)
    retry_after = retry_after_from_headers(headers)
    if status in (408, 504):
        return errors.RequestTimeout(message, retry_after=retry_after, headers=headers)
    if status in (401, 403):
        return errors.AuthenticationFailed(message)
    if status == 404:
        return errors.ModelNotFound(message)
    if status == 400 and exc.codes & {"content_filter", "ResponsibleAIPolicyViolation"}:
        return errors.ContentFiltered(message)
    if status == 400 and "context_length_exceeded" in exc.codes:
        return errors.ContextWindowExceeded(message)
    if status == 409 or status >= 500:
        return errors.Unavailable(message, retry_after=retry_after, headers=headers)
    if 400 <= status < 500:
        return errors.BadRequest(message)
    return errors.Unavailable(message)  # a redirect or an informational status: not an answer


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# -- the transport --------------------------------------------------------------------------------
class OpenAIHTTPTransport:
    """Sends chat completions straight to OpenAI-compatible and Azure OpenAI endpoints over one session.

    The ``aiohttp`` session is created on first use, on the event loop of that call, and serves only
    that loop; ``aclose`` must be awaited there. ``max_connections`` should be at least the gateway's
    concurrency so no call waits for a connection.
    """

    def __init__(self, *, max_connections: int = 64, env: Mapping[str, str] | None = None) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self._env = env  # None: os.environ, read at every call as LiteLLM does
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._tls: ssl.SSLContext | None = None

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The open session, or None before the first call and after ``aclose``."""
        return self._session

    def route(self, call: ChatCall) -> DirectRoute | None:
        """How ``call`` would be sent, or None when this transport does not cover it."""
        return direct_route(call, self._env)

    async def send(self, call: ChatCall) -> dict[str, Any]:
        """Send one covered request, once; a call ``direct_route`` does not cover is a ``ConfigurationError``."""
        route = self.route(call)
        if route is None:
            raise errors.ConfigurationError(
                f"model {call.endpoint.model!r}: this request needs LiteLLM (see gateway.transports.http.direct_route)"
            )
        return await self.send_via(route, call)

    async def send_via(self, route: DirectRoute, call: ChatCall) -> dict[str, Any]:
        """Send ``call`` once along ``route``; return the response JSON or raise a ``GatewayError``."""
        try:
            data = request_body(route, call)
        except ValueError as exc:  # NaN or infinity in a parameter: nothing was sent
            raise errors.BadRequest(f"request is not valid JSON: {exc}") from exc
        session = self._session_here()
        try:
            async with session.post(
                route.url,
                data=data,
                headers=route.headers,
                allow_redirects=False,
                timeout=self._timeout(call.endpoint.timeout_s),
                ssl=self._tls_context() if route.url.startswith("https:") else True,
            ) as response:
                payload = await response.read()
                if not 200 <= response.status < 300:
                    raise ProviderHTTPError(response.status, response.headers, payload, api_key=route.api_key)
                headers = response.headers
        except Exception as exc:  # every aiohttp/socket failure and error status is classified here, once
            raise map_http_error(exc, api_key=route.api_key) from exc
        body = _json_object(payload)
        if body is None or not isinstance(body.get("choices"), list):
            malformed = MalformedResponse(
                f"HTTP {response.status}: the body is not a chat completion ({len(payload)} bytes)"
            )
            raise map_http_error(malformed, api_key=route.api_key) from malformed
        # The headers are aiohttp's (names looked up without regard to case), kept by reference: no copy.
        return ProviderReply(body, headers)

    async def aclose(self) -> None:
        """Close the session and its connections (await it on the loop the transport was used from)."""
        session, self._session, self._loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed:
            if self._loop is not loop:
                raise RuntimeError("OpenAIHTTPTransport is bound to another event loop; use one transport per loop")
            return self._session
        import aiohttp  # here, not at the top: a replayed run never sends and need not import it

        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections)
        # No cookies and no environment lookups (proxies and netrc cost an executor hop a call; a run
        # with proxy variables set goes through LiteLLM instead, see _LITELLM_ONLY_ENV).
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, raise_for_status=False
        )
        self._loop = loop
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import ssl

            import certifi

            # The roots httpx (under the OpenAI SDK) trusts: SSL_CERT_FILE, else SSL_CERT_DIR, else certifi's.
            env = os.environ if self._env is None else self._env
            if env.get("SSL_CERT_FILE"):
                self._tls = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
            elif env.get("SSL_CERT_DIR"):
                self._tls = ssl.create_default_context(capath=env["SSL_CERT_DIR"])
            else:
                self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls


class TransportRouter:
    """Sends each call over the direct HTTP transport where it covers the call, else through LiteLLM."""

    def __init__(self, direct: OpenAIHTTPTransport | None, fallback: Transport) -> None:
        self.direct = direct
        self.fallback = fallback

    async def send(self, call: ChatCall) -> dict[str, Any]:
        """Send one request, once, over whichever transport sends it exactly and most cheaply."""
        direct = self.direct
        if direct is not None:
            route = direct.route(call)
            if route is not None:
                return await direct.send_via(route, call)
        return await self.fallback.send(call)

    async def aclose(self) -> None:
        """Close the direct transport's session (LiteLLM keeps and closes its own clients)."""
        if self.direct is not None:
            await self.direct.aclose()


def gateway_transport(choice: str = "auto", *, max_connections: int = 64) -> TransportRouter:
    """The transport a ``Runtime`` sends through: direct HTTP where it applies (``auto``), or LiteLLM for all."""
    if choice not in TRANSPORT_CHOICES:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORT_CHOICES)}, got {choice!r}")
    direct = OpenAIHTTPTransport(max_connections=max_connections) if choice == "auto" else None
    return TransportRouter(direct, LiteLLMTransport())
