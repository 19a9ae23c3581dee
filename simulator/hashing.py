"""Canonical request identity and the deterministic draws derived from it.

Every choice the simulator makes (answer wording, judge noise, proposals, latency, faults) comes from
a SHA-256 digest, never from ``hash()`` or a shared random generator, so the same request body gets
the same answer in any process, order or degree of concurrency.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any

SAMPLING_PARAMS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "response_format",
    "tools",
    "tool_choice",
    "reasoning_effort",
)
"""Body keys besides ``messages`` and ``model`` that can change an answer and so belong to its identity."""


def canonical_request(body: Mapping[str, Any], model: str) -> str:
    """Canonical JSON (sorted keys, compact) of what identifies a chat request's answer.

    That is the messages, the model and the sampling parameters; transport details such as ``stream``,
    ``user`` or headers are left out so they cannot change an answer.
    """
    identity = {
        "messages": body.get("messages"),
        "model": model,
        "params": {key: body[key] for key in SAMPLING_PARAMS if body.get(key) is not None},
    }
    return json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_digest(body: Mapping[str, Any], model: str) -> bytes:
    """SHA-256 digest of ``canonical_request``: the identity of one request body."""
    return hashlib.sha256(canonical_request(body, model).encode("utf-8")).digest()


def unit_draw(digest: bytes, *labels: object) -> float:
    """A uniform number in [0, 1) determined by ``digest`` and the labels."""
    material = digest + b"|" + "|".join(str(label) for label in labels).encode("utf-8")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") / 2**64


def rng_for(digest: bytes, label: str) -> random.Random:
    """A private ``random.Random`` seeded from ``digest`` and ``label``, for several draws in a row."""
    seed = hashlib.sha256(digest + label.encode("utf-8")).digest()[:8]
    return random.Random(int.from_bytes(seed, "big"))


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for an API key, safe to show in statistics."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:10]
