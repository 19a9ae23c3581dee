"""Resolving a model name and the environment into an ``Endpoint``, with credentials checked up front.

Azure credentials are read from LiteLLM's names (``AZURE_API_KEY``, ``AZURE_API_BASE``,
``AZURE_API_VERSION``) or the Azure SDK's (``AZURE_OPENAI_KEY``, ``AZURE_OPENAI_ENDPOINT``,
``AZURE_OPENAI_API_VERSION``, ``AZURE_OPENAI_DEPLOYMENT_NAME``). A ``.env`` file in the working
directory is read by the command-line scripts (``load_env``), never by library code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from gateway.errors import ConfigurationError
from gateway.logs import register_secret
from gateway.types import Endpoint

SIMULATOR = "simulator"
SIMULATED_MODEL = "openai/gpt-4o"  # what the simulator impersonates; priced as GPT-4o
SIMULATOR_KEY = "sim-local-key"

_AZURE_KEYS = ("AZURE_API_KEY", "AZURE_OPENAI_KEY", "AZURE_OPENAI_API_KEY")
_AZURE_BASES = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")
_AZURE_VERSIONS = ("AZURE_API_VERSION", "AZURE_OPENAI_API_VERSION")
DEFAULT_AZURE_API_VERSION = "2024-10-21"


def load_env(path: str = ".env") -> None:
    """Read ``.env`` (if present) into the environment without overriding variables already set."""
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def default_model(env: Mapping[str, str] | None = None) -> str:
    """The model a run uses when none is named: the Azure deployment in the environment, else the simulator."""
    env = os.environ if env is None else env
    deployment = env.get("AZURE_OPENAI_DEPLOYMENT_NAME")
    if deployment and _first(env, _AZURE_KEYS) and _first(env, _AZURE_BASES):
        return f"azure/{deployment}"
    return SIMULATOR


def simulator_endpoint(api_base: str, sim_version: str, timeout_s: float = 60.0) -> Endpoint:
    """The endpoint of the embedded simulator (its port is not part of its identity)."""
    return Endpoint(
        model=SIMULATED_MODEL,
        identity=f"{SIMULATOR}|{sim_version}",
        api_base=api_base,
        api_key=SIMULATOR_KEY,
        price_model="gpt-4o",
        timeout_s=timeout_s,
    )


def resolve_endpoint(
    model: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    price_model: str | None = None,
    timeout_s: float = 120.0,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """An endpoint for a real LiteLLM model; raises ``ConfigurationError`` before any call if it cannot work."""
    env = os.environ if env is None else env
    if not model or model.strip() != model:
        raise ConfigurationError(f"invalid model name {model!r}")
    if model.startswith("azure/"):
        return _azure_endpoint(model, api_base, api_key, price_model, timeout_s, env)
    if model.startswith("openai/") and model != "openai/":
        # The common case is resolved without importing LiteLLM (seconds of start-up).
        provider = "openai"
        api_key = api_key or env.get("OPENAI_API_KEY")
        if not api_key:
            raise ConfigurationError(f"model {model!r} (openai) needs credentials: set OPENAI_API_KEY")
    else:
        provider = _provider_of(model, api_base)
        if not api_key:
            api_key = _provider_key(model, provider, env)
    identity = "|".join([provider, _host(api_base), "", model])
    register_secret(api_key)  # a configured key is redacted wherever it might be echoed
    return Endpoint(
        model=model, identity=identity, api_base=api_base, api_key=api_key, price_model=price_model, timeout_s=timeout_s
    )


def _azure_endpoint(
    model: str,
    api_base: str | None,
    api_key: str | None,
    price_model: str | None,
    timeout_s: float,
    env: Mapping[str, str],
) -> Endpoint:
    deployment = model.split("/", 1)[1]
    if not deployment:
        raise ConfigurationError("azure model needs a deployment name: azure/<deployment>")
    key = api_key or _first(env, _AZURE_KEYS)
    base = api_base or _first(env, _AZURE_BASES)
    version = _first(env, _AZURE_VERSIONS) or DEFAULT_AZURE_API_VERSION
    missing = []
    if not key:
        missing.append("AZURE_API_KEY (or AZURE_OPENAI_KEY)")
    if not base:
        missing.append("AZURE_API_BASE (or AZURE_OPENAI_ENDPOINT, or --api-base)")
    if missing:
        raise ConfigurationError(f"model {model!r} needs credentials: set {' and '.join(missing)} (e.g. in .env)")
    identity = "|".join(["azure", _host(base), version, deployment])
    register_secret(key)  # a configured key is redacted wherever it might be echoed
    return Endpoint(
        model=model,
        identity=identity,
        api_base=base,
        api_version=version,
        api_key=key,
        price_model=price_model,
        timeout_s=timeout_s,
    )


def _provider_of(model: str, api_base: str | None) -> str:
    import litellm

    litellm.suppress_debug_info = True  # else an unknown model prints LiteLLM's provider banner first
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=model, api_base=api_base)
    except Exception:
        raise ConfigurationError(
            f"unknown model {model!r}: name it as LiteLLM does, e.g. azure/<deployment>, openai/gpt-4o, "
            "anthropic/claude-3-5-sonnet-latest"
        ) from None
    return str(provider)


def _provider_key(model: str, provider: str, env: Mapping[str, str]) -> str | None:
    import litellm

    try:
        check = litellm.validate_environment(model=model)
    except Exception:
        return None
    missing = [k for k in check.get("missing_keys") or [] if not env.get(k)]
    if missing:
        raise ConfigurationError(f"model {model!r} ({provider}) needs credentials: set {', '.join(missing)}")
    return None  # LiteLLM reads the provider's own variable itself


def _host(api_base: str | None) -> str:
    if not api_base:
        return "default"
    parts = urlsplit(api_base)
    return f"{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path.rstrip('/')}"
