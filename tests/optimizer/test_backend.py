"""The embedded backend: it costs a replay nothing it does not use."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Opens the embedded backend, optionally sends it one request, and reports whether the tokenizer was
# loaded and what the answer's usage said.
PROBE = textwrap.dedent(
    """
    import json, sys, urllib.request
    from gateway import tokens
    from optimizer.backend import open_backend

    send = sys.argv[1] == "send"
    usage = None
    with open_backend() as backend:
        if send:
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Name three primes."}]}
            request = urllib.request.Request(
                backend.task.api_base.rstrip("/") + "/chat/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Authorization": "Bearer sim-local-key"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                usage = json.load(answer)["usage"]
        loaded = tokens._build_encoding.cache_info().currsize > 0
    # One message: its content's tokens, 4 of framing and role, 3 priming the reply (as OpenAI counts).
    expected = len(tokens.load_encoding().encode_ordinary("Name three primes.")) + 4 + 3
    print(json.dumps({"loaded": loaded, "usage": usage, "expected": expected}))
    """
)


def _probe(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_embedded_simulator_loads_its_tokenizer_only_when_a_request_comes():
    idle = _probe("idle")
    assert idle["loaded"] is False and idle["usage"] is None
    sent = _probe("send")
    assert sent["loaded"] is True
    usage = sent["usage"]
    assert isinstance(usage, dict) and usage["prompt_tokens"] == sent["expected"]
