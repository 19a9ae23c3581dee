"""Does a server enforce JSON schemas? One probe request per endpoint and model, its verdict noted.

The probe asks for something free text cannot satisfy: "Name one colour." under a schema whose only
allowed answer is ``{"code": "<PROBE_CODE>"}``, a string no model writes unprompted. A server that
constrains decoding to the schema (OpenAI and Azure strict structured outputs, vLLM, llama.cpp,
Ollama) can only return that object; one that accepts the schema and ignores it returns a colour; one
that does not support it refuses the request (400). The three verdicts are ``enforced``, ``ignored``
and ``rejected``.

The probe goes through the gateway like any call (cached, in the ledger), and its verdict is noted in
the response cache under ``structured_outputs_key`` (as ``gateway/pricing.py`` notes served models),
so a rerun or a replay reads the verdict and sends nothing, a refusal included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cache.errors import CorruptEntry
from cache.key import content_hash
from gateway import errors
from gateway.core import Gateway
from gateway.types import ChatCall, Endpoint

NOTE_VERSION = "v1"
ENFORCED = "enforced"
IGNORED = "ignored"
REJECTED = "rejected"
VERDICTS: tuple[str, ...] = (ENFORCED, IGNORED, REJECTED)

PROBE_CODE = "hsopt-schema-probe-7301"
PROBE_MESSAGES: tuple[dict[str, str], ...] = ({"role": "user", "content": "Name one colour."},)
PROBE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "schema_probe",
        "schema": {
            "type": "object",
            "properties": {"code": {"type": "string", "enum": [PROBE_CODE]}},
            "required": ["code"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
PROBE_MAX_TOKENS = 48


@dataclass(frozen=True)
class ProbeVerdict:
    """What an endpoint did with a schema, and where the verdict came from (``probe`` or ``cache note``)."""

    verdict: str
    source: str
    detail: str = ""

    @property
    def enforced(self) -> bool:
        return self.verdict == ENFORCED

    def as_dict(self) -> dict[str, str]:
        return {"verdict": self.verdict, "source": self.source, "detail": self.detail}


def structured_outputs_key(endpoint: Endpoint) -> str:
    """The response-cache key of the note holding an endpoint's verdict (never a request's key)."""
    return f"structured-outputs:{NOTE_VERSION}:{content_hash([endpoint.identity, endpoint.model])}"


def probe_call(endpoint: Endpoint) -> ChatCall:
    """The probe request for ``endpoint`` (greedy, short: the answer is at most a dozen tokens)."""
    params = {"temperature": 0.0, "max_tokens": PROBE_MAX_TOKENS, "response_format": PROBE_FORMAT}
    return ChatCall(endpoint, [dict(m) for m in PROBE_MESSAGES], params)


def verdict_of(text: str | None) -> str:
    """``enforced`` when the answer is exactly the one object the schema allows, else ``ignored``."""
    try:
        answer = json.loads(text or "")
    except ValueError:
        return IGNORED
    return ENFORCED if answer == {"code": PROBE_CODE} else IGNORED


async def recall_verdict(gateway: Gateway, endpoint: Endpoint) -> ProbeVerdict | None:
    """The verdict an earlier run noted for ``endpoint`` in the gateway's cache; None: none (or damaged)."""
    if gateway.cache is None or not gateway.policy.reads:
        return None
    try:
        note = await gateway.cache.lookup(structured_outputs_key(endpoint))
    except CorruptEntry:
        return None
    verdict = note.get("verdict") if note is not None else None
    if verdict not in VERDICTS:
        return None
    return ProbeVerdict(str(verdict), "cache note", str(note.get("detail") or "") if note else "")


async def probe_endpoint(gateway: Gateway, endpoint: Endpoint) -> ProbeVerdict:
    """The endpoint's verdict: from the cache's note, else from one probe request (then noted)."""
    known = await recall_verdict(gateway, endpoint)
    if known is not None:
        return known
    try:
        completion = await gateway.complete(probe_call(endpoint))
    except errors.ContentFiltered:
        raise
    except errors.BadRequest as exc:
        found = ProbeVerdict(REJECTED, "probe", f"{type(exc).__name__}: {str(exc)[:160]}")
    else:
        text = completion.text
        verdict = verdict_of(text)
        detail = "" if verdict == ENFORCED else f"answered {(text or '')[:80]!r}"
        found = ProbeVerdict(verdict, "probe", detail)
    if gateway.cache is not None and gateway.policy.writes:
        await gateway.cache.store(structured_outputs_key(endpoint), {"verdict": found.verdict, "detail": found.detail})
    return found
