"""Redaction by value: known secrets and URL passwords go, settings that merely look like them stay."""

from __future__ import annotations

import asyncio

from cache import ResponseCache
from gateway import errors
from gateway.config import resolve_endpoint
from gateway.core import Gateway
from gateway.logs import REDACTED, environment_secrets, known_secrets, redact
from gateway.transports.http import OpenAIHTTPTransport
from gateway.types import ChatCall
from simulator import FaultConfig

KEY = "sk-live-0123456789abcdef"


def test_only_values_known_to_be_secrets_are_redacted(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("KEYBOARD_LAYOUT", "dvorak-programmer")
    monkeypatch.setenv("CI_JOB_TOKEN", "glcbt-64-very-real-token")
    monkeypatch.setenv("AZURE_OPENAI_KEY", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("DEBUG_PASSWORD", "1")  # too short to be a credential
    monkeypatch.setenv("HSOPT_REDIS_URL", "rediss://default:s3cret-pass@cache.example:6380/0")
    text = (
        "flag false on a dvorak-programmer keyboard; token glcbt-64-very-real-token, key "
        "0123456789abcdef0123456789abcdef, debug 1, password s3cret-pass"
    )
    assert redact(text, known_secrets()) == (
        f"flag false on a dvorak-programmer keyboard; token {REDACTED}, key {REDACTED}, debug 1, password {REDACTED}"
    )
    assert environment_secrets({"TOKENIZERS_PARALLELISM": "false", "AZURE_API_KEY": KEY}) == {KEY}


def test_a_password_in_any_url_is_redacted_without_being_configured():
    text = "cannot reach redis://:hunter2hunter2@10.0.0.5:6379/0 or https://bob:pw-42@proxy.local/x (http://127.0.0.1:8000/v1)"
    assert redact(text, []) == (
        f"cannot reach redis://:{REDACTED}@10.0.0.5:6379/0 or https://bob:{REDACTED}@proxy.local/x "
        "(http://127.0.0.1:8000/v1)"
    )


def test_a_key_given_to_an_endpoint_is_registered_as_a_secret():
    resolve_endpoint("openai/gpt-4o", api_key="custom-key-given-by-flag", env={})
    assert "custom-key-given-by-flag" in known_secrets()


def test_a_cached_refusal_reads_the_same_whatever_the_environment(start_sim, tmp_path, monkeypatch):
    # The simulator's refusal says "The response was filtered ...": an unrelated variable holding the
    # word "filtered" must not change what the cache stores.
    sim = start_sim(faults=FaultConfig(rate_content_filter=1.0))

    def stored_refusal(directory: str) -> dict:
        endpoint = resolve_endpoint("openai/gpt-4o", api_base=sim.openai_api_base, api_key=KEY, env={})
        call = ChatCall(endpoint, [{"role": "user", "content": "refused"}], {"max_tokens": 16})
        cache = ResponseCache(tmp_path / directory)
        gateway = Gateway(OpenAIHTTPTransport(), cache=cache)

        async def refuse() -> None:
            try:
                await gateway.complete(call)
            except errors.ContentFiltered:
                pass
            await gateway.transport.aclose()

        asyncio.run(refuse())
        (key,) = cache.keys()
        record = cache.get(key)
        cache.close()
        assert record is not None
        return record

    plain = stored_refusal("plain")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "filtered")
    monkeypatch.setenv("PYTEST_TOKEN_NAME", "filtered due to")
    assert stored_refusal("with-settings") == plain
    assert "filtered due to" in plain["refusal"] and REDACTED not in plain["refusal"]


def test_each_log_line_is_one_write_so_another_thread_cannot_split_it():
    import io

    import structlog

    from gateway.logs import configure_logging

    class Recording(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[str] = []

        def write(self, text: str) -> int:
            self.writes.append(text)
            return super().write(text)

    stream = Recording()
    configure_logging(json_lines=True, stream=stream)
    structlog.get_logger("t").info("phase.start", phase="search")
    assert len(stream.writes) == 1 and stream.writes[0].endswith("}\n")


# -- every form a secret takes, and redaction before any cut ----------------------------------------
def test_a_credential_in_a_urls_query_string_is_redacted_shown_and_registered(monkeypatch):
    from gateway.redaction import redact_text, redact_url, register_url, url_secrets

    url = "redis://cache.example:6379/0?password=q-pass-2c9f&db=3"
    assert url_secrets(url) == ["q-pass-2c9f"]
    assert redact_url(url) == "redis://cache.example:6379/0?password=***&db=3"
    pg = "postgresql://u:pg-pass-77@db.example/app?sslmode=require&password=pg-other-88"
    assert redact_url(pg) == "postgresql://u:***@db.example/app?sslmode=require&password=***"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    # In any text, registered or not: only the value goes, the rest of the URL reads as before.
    assert redact_text(f"lost {url} now", []) == f"lost redis://cache.example:6379/0?password={REDACTED}&db=3 now"
    register_url(pg)
    assert set(known_secrets()) >= {"pg-pass-77", "pg-other-88"}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example/?token=tok-env-123456")
    assert "tok-env-123456" in environment_secrets()


def test_tokens_in_headers_are_redacted_in_any_notation():
    from gateway.redaction import redact_text

    texts = {
        "Authorization: Bearer abc.def-123": f"Authorization: Bearer {REDACTED}",
        "headers={'api-key': 'az-0987', 'x': 1}": f"headers={{'api-key': '{REDACTED}', 'x': 1}}",
        '{"X-Api-Key":"k-55"}': f'{{"X-Api-Key":"{REDACTED}"}}',
        "proxy-authorization=Basic dXNlcjpw": f"proxy-authorization=Basic {REDACTED}",
        "Authorization is required": "Authorization is required",  # no header, nothing to hide
    }
    for text, expected in texts.items():
        assert redact_text(text, []) == expected
    assert redact({"Authorization": "Bearer z", "api_key": "k", "model": "gpt-4o"}, []) == {
        "Authorization": REDACTED,
        "api_key": REDACTED,
        "model": "gpt-4o",
    }


def test_a_secret_across_the_cut_of_an_error_line_leaves_none_of_its_characters():
    from gateway.redaction import error_line
    from gateway.transports.litellm import redacted_message

    key = "sk-straddle-0123456789abcdef"
    exc = RuntimeError("." * 280 + f" {key} and more")  # the key spans character 300
    for line in (error_line(exc, secrets=[key]), redacted_message(exc, secrets=[key])):
        assert len(line) <= 300 and "sk-strad" not in line
    shaped = RuntimeError("." * 260 + " Authorization: Bearer tok-straddling-abcdef")
    assert "tok-stra" not in error_line(shaped)
