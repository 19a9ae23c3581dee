"""The standalone ``scripts/simulator.py``: starts, serves, stops cleanly on Ctrl-C, rejects bad flags."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "simulator.py"


def test_script_serves_and_stops_on_sigint(http: httpx.Client) -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--latency-ms", "0", "--api-key", "secret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=SCRIPT.parent,
    )
    try:
        banner = process.stdout.readline() if process.stdout else ""
        match = re.search(r"(http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        reply = http.post(
            f"{match.group(1)}/v1/chat/completions",
            headers={"Authorization": "Bearer secret"},
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
        )
        assert reply.status_code == 200 and "blue" in reply.json()["choices"][0]["message"]["content"]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "stopped" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_script_rejects_a_bad_flag_value_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--rate-500", "7"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "rate_500 must be a probability" in result.stderr
    assert "Traceback" not in result.stderr
