"""The ``--transport`` flag: parsed, validated, and carried to the gateway's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import optimizer.run as run_module
from gateway.runtime import GatewaySettings
from optimizer.cli import build_parser, config_from_args, main
from optimizer.progress import Progress
from optimizer.testing import small_flags

ROOT = Path(__file__).resolve().parents[2]
SMALL_FLAGS = small_flags("--quiet")


class _Stop(Exception):
    """Raised by the stand-in Runtime: the settings were seen, the run need go no further."""


def test_the_transport_flag_reaches_the_gateway_settings(monkeypatch, tmp_path):
    seen: list[GatewaySettings] = []

    def runtime(settings: GatewaySettings, *args: Any, **kwargs: Any) -> Any:
        seen.append(settings)
        raise _Stop

    monkeypatch.setattr(run_module, "Runtime", runtime)
    for choice in (None, "litellm", "auto"):
        flags = SMALL_FLAGS + ["--out", str(tmp_path / f"run-{choice}")] + (["--transport", choice] if choice else [])
        config = config_from_args(build_parser().parse_args(flags))
        with pytest.raises(_Stop):
            run_module.run_optimization(config, progress=Progress(enabled=False))
    assert [s.transport for s in seen] == ["auto", "litellm", "auto"]


def test_an_unknown_transport_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(SMALL_FLAGS + ["--transport", "httpx"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'httpx'" in err and len(err.strip().splitlines()) == 1
