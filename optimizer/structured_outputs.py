"""Which roles of a run use structured outputs (``--structured-outputs auto|on|off``), decided at its start.

* ``off``: no role does; every request is the one stock DSPy sends.
* ``on``: every role does, without asking the servers (the user knows they enforce schemas).
* ``auto`` (the default): each self-hosted endpoint (``--local-model``; Ollama, vLLM, LM Studio or
  llamafile by LiteLLM's provider names; or an ``openai/<name>`` served at an ``--api-base`` that is
  not OpenAI's, for a name LiteLLM does not list as an OpenAI model) is probed once
  (``gateway/structured_probe.py``) and uses schemas where it enforces them. OpenAI, Azure, OpenAI's
  own models behind any base URL (a proxy) and the embedded simulator are not probed and keep stock
  DSPy's requests: their answers already parse, the benchmark's anchor and every existing cache were
  made with those requests, and a hosted model's probe would be a paid call. ``on`` gives them
  schemas when asked.

The decision is printed, kept in ``optimization_results.json`` (``structured_outputs``) and, for probed
endpoints, noted in the cache, so a rerun or a replay sends nothing to learn it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.pricing import listed_provider
from gateway.structured_probe import ProbeVerdict, probe_endpoint
from gateway.types import Endpoint

# Providers (as LiteLLM names them) that only ever run on the user's own machines.
SELF_HOSTED_PROVIDERS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile", "local"})
# Hosts whose OpenAI-compatible API is OpenAI's own.
OPENAI_HOSTS = frozenset({"default", "api.openai.com"})  # "default": no --api-base (gateway/config.py)


def self_hosted(endpoint: Endpoint, backend_name: str) -> bool:
    """Whether ``auto`` probes this endpoint: a local model, or a server that is not OpenAI's or Azure's."""
    if backend_name == "local":
        return True
    if backend_name != "live":
        return False  # the embedded simulator: the default run's requests stay stock DSPy's
    provider, _, rest = endpoint.identity.partition("|")
    host = rest.split("|", 1)[0].split("/", 1)[0].split(":", 1)[0]
    if provider == "azure":
        return False
    if provider == "openai":
        if listed_provider(endpoint.model) == "openai":
            return False  # OpenAI's own model (GPT-4o...) behind any base URL, a proxy's say: stock DSPy
        return host not in OPENAI_HOSTS and not host.endswith(".openai.azure.com")
    return provider in SELF_HOSTED_PROVIDERS


@dataclass
class StructuredDecision:
    """The run's choice, per role: whether its calls carry a schema and why."""

    mode: str
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    structured: set[tuple[str, str]] = field(default_factory=set)  # (identity, model) of endpoints using them

    def uses(self, endpoint: Endpoint) -> bool:
        return (endpoint.identity, endpoint.model) in self.structured

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "roles": self.roles}

    def lines(self) -> list[str]:
        """One printed line per role (one in all when the roles agree)."""
        infos = list(self.roles.values())
        if infos and all(
            (i["model"], i["structured"], i["reason"])
            == (infos[0]["model"], infos[0]["structured"], infos[0]["reason"])
            for i in infos
        ):
            state = "on" if infos[0]["structured"] else "off"
            return [f"structured outputs for every role ({infos[0]['model']!r}): {state} ({infos[0]['reason']})"]
        out = []
        for role, info in self.roles.items():
            state = "on" if info["structured"] else "off"
            why = info["reason"]
            out.append(f"structured outputs for the {role} model {info['model']!r}: {state} ({why})")
        return out


async def decide(
    mode: str, endpoints: dict[str, Endpoint], backend_name: str, gateway: Any, on_probe: Any = None
) -> StructuredDecision:
    """Decide per role (``endpoints``: role -> endpoint); probes go through ``gateway`` (once per endpoint).

    ``on_probe``: a context manager factory entered around each live probe (the ledger's phase).
    """
    decision = StructuredDecision(mode)
    verdicts: dict[tuple[str, str], ProbeVerdict | None] = {}
    for role, endpoint in endpoints.items():
        ident = (endpoint.identity, endpoint.model)
        verdict: ProbeVerdict | None = None
        if mode == "on":
            use, reason = True, "--structured-outputs on"
        elif mode == "off":
            use, reason = False, "--structured-outputs off: stock DSPy requests"
        elif not self_hosted(endpoint, backend_name):
            use, reason = False, "not probed: OpenAI, Azure and the simulator keep stock DSPy requests"
        else:
            if ident not in verdicts:
                if on_probe is not None:
                    with on_probe():
                        verdicts[ident] = await probe_endpoint(gateway, endpoint)
                else:
                    verdicts[ident] = await probe_endpoint(gateway, endpoint)
            verdict = verdicts[ident]
            assert verdict is not None
            use = verdict.enforced
            reason = _reason(verdict)
        if use:
            decision.structured.add(ident)
        decision.roles[role] = {
            "model": endpoint.model,
            "structured": use,
            "reason": reason,
            "probe": verdict.as_dict() if verdict is not None else None,
        }
    return decision


def _reason(verdict: ProbeVerdict) -> str:
    source = "probed" if verdict.source == "probe" else "verdict from the cache's note"
    if verdict.verdict == "enforced":
        return f"the server enforces JSON schemas ({source})"
    if verdict.verdict == "ignored":
        detail = f"; {verdict.detail}" if verdict.detail else ""
        return f"the server ACCEPTS BUT IGNORES JSON schemas ({source}{detail}): stock DSPy requests"
    return f"the server rejects JSON schemas ({source}): stock DSPy requests"
