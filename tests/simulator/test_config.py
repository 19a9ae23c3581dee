"""Validation and description of the simulator's settings."""

from __future__ import annotations

import pytest

from simulator import FaultConfig, SimConfig


def test_defaults_have_every_fault_off() -> None:
    faults = SimConfig().faults
    assert not faults.any_transient
    assert faults.rate_content_filter == 0.0
    assert SimConfig().rpm == 0 and SimConfig().tpm == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_500": 1.5}, "rate_500 must be a probability"),
        ({"rate_drop": -0.1}, "rate_drop must be a probability"),
        ({"rate_429": 0.6, "rate_503": 0.6}, "add up to 1.2"),
        ({"hang_s": -1}, "hang_s must be a finite number"),
        ({"content_filter_mode": "banana"}, "content_filter_mode"),
    ],
)
def test_fault_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultConfig(**kwargs)  # type: ignore[arg-type]  # a bad value on purpose


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "port must be between"),
        ({"api_key": "  "}, "api_key must not be empty"),
        ({"latency_ms": -5}, "latency_ms"),
        ({"latency_ms": float("nan")}, "latency_ms"),
        ({"rpm": -1}, "rpm must be a whole number"),
        ({"tpm": 1.5}, "tpm must be a whole number"),
    ],
)
def test_sim_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimConfig(**kwargs)  # type: ignore[arg-type]  # a bad value on purpose


def test_describe_never_shows_the_key() -> None:
    described = SimConfig(api_key="secret-key", faults=FaultConfig(rate_429=0.25)).describe()
    assert described["api_key"] == "set"
    assert "secret-key" not in repr(described)
    assert described["faults"]["rate_429"] == 0.25
