"""The cache key: a versioned content hash of everything that changes an LLM's answer.

Contract (``v1``)
-----------------
``request_key(endpoint, model, messages, params, rollout_id)`` returns ``"v1:" + sha256(canonical_json(payload))``
where ``payload`` is::

    {"endpoint": <endpoint identity>,   # provider, Azure deployment, API version, host; never credentials
     "model": <model string>,
     "messages": <chat messages, as sent>,
     "params": <sampling and format parameters: temperature, max_tokens, top_p, n, seed, stop,
                response_format, tools, ... every key except the client settings in CLIENT_KEYS>,
     "rollout_id": <DSPy rollout id or None>}

``canonical_json`` sorts keys, uses compact separators, keeps non-ASCII text as is, and refuses values
JSON cannot represent (so two different requests can never serialise alike). ``rollout_id`` is part
of the key although it never reaches the provider: DSPy uses it to ask for a fresh sample of an
otherwise identical request, and MIPROv2's proposer relies on that.

Credentials, headers, timeouts and other client settings are dropped before hashing, so the same
request made with two API keys has one key. Changing the version prefix invalidates every entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

KEY_VERSION = "v1"

# Settings of the HTTP client, not of the request: they never change the answer, and several are secret.
CLIENT_KEYS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "azure_ad_token",
        "azure_ad_token_provider",
        "organization",
        "project",
        "headers",
        "extra_headers",
        "extra_query",
        "timeout",
        "request_timeout",
        "num_retries",
        "max_retries",
        "cache",
        "caching",
        "metadata",
        "user",
        "rollout_id",
        "stream",
        "stream_options",
        "custom_llm_provider",
    }
)


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically: sorted keys, compact, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def request_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a call's keyword arguments that belongs in the key (client settings removed)."""
    return {k: v for k, v in params.items() if k not in CLIENT_KEYS and v is not None}


def request_key(
    *,
    endpoint: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    rollout_id: Any = None,
) -> str:
    """The versioned cache key of one chat-completion request (see the module docstring)."""
    payload = {
        "endpoint": endpoint,
        "model": model,
        "messages": list(messages),
        "params": request_params(params),
        "rollout_id": rollout_id,
    }
    return f"{KEY_VERSION}:{content_hash(payload)}"


def short_digest(key: str) -> str:
    """A 12-character digest of a key, for error messages and logs."""
    return key.split(":", 1)[-1][:12]
