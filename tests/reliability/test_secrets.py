"""Secrets stay secret: with every key variable set to a recognisable value, run the main job, replay,
apply and the load test against the simulator (with faults, a refused prompt and JSON logs), then
search everything they printed and wrote. The key must appear nowhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evaluation.data import SHIPPED_SAMPLE
from gateway.testing import RefusingProvider

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-hsopt-RELIABILITY-7f3a9c41e2d8"
FRAGMENT = "RELIABILITY-7f3a9c"  # what a masked or cut echo of the key would still show
KEY_VARIABLES = ("AZURE_API_KEY", "AZURE_OPENAI_KEY", "OPENAI_API_KEY")


@dataclass
class Session:
    workdir: Path
    outputs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)


def script(name: str, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def secret_env(harness) -> dict[str, str]:
    env = harness.optimize_env(**dict.fromkeys(KEY_VARIABLES, SECRET))
    env.pop("AZURE_OPENAI_DEPLOYMENT_NAME", None)
    return env


def leaks(text: str | bytes) -> bool:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return SECRET.encode() in data or FRAGMENT.encode() in data


@pytest.fixture(scope="module")
def session(harness, refusal_dataset, tmp_path_factory) -> Session:
    workdir = tmp_path_factory.mktemp("secrets")
    dataset, _ = refusal_dataset(workdir, train=10, dev=10, test=4, refused={"dev": 1})
    env = secret_env(harness)
    ran = Session(workdir)
    tiny = [
        "--dataset",
        str(dataset),
        "--train-size",
        "10",
        "--dev-size",
        "10",
        "--test-size",
        "4",
        "--num-candidates",
        "2",
        "--num-trials",
        "1",
        "--cache-dir",
        str(workdir / "cache"),
    ]
    with harness.StandaloneSimulator(
        "--latency-ms", "1", "--rate-429", "0.1", "--retry-after", "0.05", "--rate-500", "0.05"
    ) as sim:
        openai = ["--model", "openai/gpt-4o", "--api-base", f"{sim.url}/v1"]
        azure = ["--model", "azure/sim-deployment", "--api-base", sim.url]
        ran.outputs["optimize"] = script(
            "optimize.py", *tiny, *openai, "--log-json", "--out", str(workdir / "run"), env=env, cwd=workdir
        )
        ran.outputs["replay"] = script(
            "optimize.py", *tiny, *openai, "--replay", "--out", str(workdir / "replay"), env=env, cwd=workdir
        )
        ran.outputs["apply"] = script(
            "apply.py",
            str(workdir / "run"),
            "--prompt",
            "What is DNS?",
            *openai,
            "--cache-dir",
            str(workdir / "cache"),
            "--log-json",
            env=env,
            cwd=workdir,
        )
        (workdir / "prompts.jsonl").write_text('{"prompt": "What is TLS?"}\n"How do I boil an egg?"\n')
        ran.outputs["apply-azure"] = script(
            "apply.py",
            str(workdir / "run"),
            "--input",
            str(workdir / "prompts.jsonl"),
            "--output",
            str(workdir / "answers.jsonl"),
            *azure,
            "--cache-dir",
            str(workdir / "cache"),
            env=env,
            cwd=workdir,
        )
        if (ROOT / "scripts" / "loadtest.py").exists():
            ran.outputs["loadtest"] = script(
                "loadtest.py",
                *openai,
                "--requests",
                "12",
                "--concurrency",
                "4",
                "--json",
                "--cache-dir",
                str(workdir / "loadtest-cache"),
                env=env,
                cwd=workdir,
            )
    return ran


@pytest.mark.slow
def test_every_command_worked(session):
    for name, done in session.outputs.items():
        assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
    results = json.loads((session.workdir / "run" / "optimization_results.json").read_text())
    assert results["failures"], "the refused prompt should have produced a failure reason to search"


@pytest.mark.slow
def test_the_secret_is_in_no_output_and_no_file(session):
    for name, done in session.outputs.items():
        assert not leaks(done.stdout), f"{name} stdout"
        assert not leaks(done.stderr), f"{name} stderr"
    searched = [p for p in session.workdir.rglob("*") if p.is_file()]
    names = {p.name for p in searched}
    assert {
        "cache.db",
        "ledger.json",
        "optimization_results.json",
        "evaluations.json",
        "optimized_program.json",
        "answers.jsonl",
    } <= names
    for path in searched:
        assert not leaks(path.read_bytes()), path


@pytest.mark.slow
def test_json_logs_record_every_retry(session):
    """With ``--log-json`` each retry is a ``gateway.retry`` line: the ledger's retry count can be audited.

    A call cancelled while it waited to retry (an evaluation no trial needed any more) says so in a
    ``gateway.retry_abandoned`` line: the retry its last line announced never went out.
    """
    lines = [json.loads(line) for line in session.outputs["optimize"].stderr.splitlines() if line.startswith("{")]
    retries = [line for line in lines if line.get("event") == "gateway.retry"]
    abandoned = [line for line in lines if line.get("event") == "gateway.retry_abandoned"]
    ledger = json.loads((session.workdir / "run" / "ledger.json").read_text())
    assert ledger["total"]["retries"] > 0
    assert len(retries) - len(abandoned) == ledger["total"]["retries"]


# -- a provider that echoes the key back in its errors -------------------------------------------------
@pytest.fixture
def echoing_provider(request) -> Iterator[RefusingProvider]:
    """A provider that refuses every request and quotes the caller's key in the error."""
    status, code = request.param
    with RefusingProvider(status, code) as provider:
        yield provider


@pytest.mark.parametrize(
    "echoing_provider",
    [(401, "invalid_api_key"), (400, "content_filter")],
    ids=["401", "content-filter"],
    indirect=True,
)
def test_a_key_echoed_by_the_provider_is_redacted_everywhere(echoing_provider, harness, tmp_path):
    flags = [
        "--dataset",
        str(SHIPPED_SAMPLE),
        "--train-size",
        "10",
        "--dev-size",
        "4",
        "--test-size",
        "0",
        "--num-candidates",
        "2",
        "--num-trials",
        "1",
        "--quiet",
        "--model",
        "openai/gpt-4o",
        "--api-base",
        echoing_provider.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "run"),
    ]
    done = script("optimize.py", *flags, env=secret_env(harness), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error:" in done.stderr
    assert not leaks(done.stdout + done.stderr), done.stderr[-1000:]
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert not leaks(path.read_bytes()), path
