import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import SIMULATOR, default_model, resolve_endpoint, simulator_endpoint
from gateway.errors import ConfigurationError


def test_azure_credentials_from_either_naming_scheme():
    litellm_names = {
        "AZURE_API_KEY": "k1",
        "AZURE_API_BASE": "https://res.openai.azure.com",
        "AZURE_API_VERSION": "2024-06-01",
    }
    sdk_names = {
        "AZURE_OPENAI_KEY": "k1",
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
        "AZURE_OPENAI_API_VERSION": "2024-06-01",
    }
    a = resolve_endpoint("azure/prod-4o", env=litellm_names)
    b = resolve_endpoint("azure/prod-4o", env=sdk_names)
    assert a == b
    assert a.api_key == "k1" and a.api_version == "2024-06-01"
    assert a.identity == "azure|res.openai.azure.com|2024-06-01|prod-4o"
    assert "k1" not in a.identity and "k1" not in repr(a)


def test_missing_azure_credentials_fail_before_any_call():
    with pytest.raises(ConfigurationError, match="AZURE_API_KEY") as info:
        resolve_endpoint("azure/prod-4o", env={"AZURE_API_BASE": "https://x"})
    assert "\n" not in str(info.value)


def test_default_model_is_the_azure_deployment_else_the_simulator():
    env = {"AZURE_OPENAI_DEPLOYMENT_NAME": "dep", "AZURE_OPENAI_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://x"}
    assert default_model(env) == "azure/dep"
    assert default_model({"AZURE_OPENAI_DEPLOYMENT_NAME": "dep"}) == SIMULATOR
    assert default_model({}) == SIMULATOR


def test_unknown_model_and_missing_provider_key_are_clear_errors():
    with pytest.raises(ConfigurationError, match="unknown model"):
        resolve_endpoint("no-such-provider-model-xyz", env={})
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        resolve_endpoint("openai/gpt-4o", env={})
    assert resolve_endpoint("openai/gpt-4o", env={"OPENAI_API_KEY": "k"}).model == "openai/gpt-4o"


def test_simulator_identity_does_not_depend_on_its_port():
    a = simulator_endpoint("http://127.0.0.1:1111/v1", "sim-1")
    b = simulator_endpoint("http://127.0.0.1:2222/v1", "sim-1")
    assert a.identity == b.identity and a.price_model == "gpt-4o"
    assert simulator_endpoint("http://x/v1", "sim-2").identity != a.identity


def test_openai_models_resolve_without_importing_litellm():
    code = (
        "import sys; from gateway.config import resolve_endpoint; "
        "e = resolve_endpoint('openai/gpt-4o', api_base='http://127.0.0.1:9/v1', env={'OPENAI_API_KEY': 'k'}); "
        "print(e.api_key == 'k', 'litellm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == ["True", "False"], out.stderr
