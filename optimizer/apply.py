"""Inference with an optimized program: load its DSPy state JSON and answer prompts through the gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import dspy

from evaluation.signatures import Generator
from gateway.runtime import Runtime


class ApplyError(Exception):
    """The program or the prompts could not be read (one line for the user)."""


def program_path(target: Path) -> Path:
    """``optimized_program.json`` of a run directory, or the given JSON file."""
    path = target / "optimized_program.json" if target.is_dir() else target
    if not path.is_file():
        raise ApplyError(f"no optimized program at {path}")
    return path


def load_program(target: Path) -> Generator:
    """The generator with the optimized instruction loaded (plain DSPy state JSON, never pickle)."""
    path = program_path(target)
    program = Generator()
    try:
        program.load(str(path))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ApplyError(f"{path} is not an optimized generator program ({type(exc).__name__}: {exc})") from None
    return program


def read_prompts(path: Path) -> list[str]:
    """Prompts from a JSONL file: each line a JSON string or an object with a ``prompt`` field."""
    prompts = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ApplyError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise ApplyError(f"{path} is not UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ApplyError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
        prompt = item.get("prompt") if isinstance(item, dict) else item
        if not isinstance(prompt, str) or not prompt.strip():
            raise ApplyError(f"{path}: line {number}: expected a non-empty prompt string")
        prompts.append(prompt)
    if not prompts:
        raise ApplyError(f"{path}: no prompts")
    return prompts


def answer_all(runtime: Runtime, lm: dspy.LM, program: Generator, prompts: list[str]) -> list[str]:
    """Answers in input order; every prompt in flight at once, bounded by the gateway's concurrency."""

    async def answer(prompt: str) -> str:
        with dspy.context(lm=lm):
            return str((await program.acall(prompt=prompt)).response)

    async def all_answers() -> list[str]:
        return list(await asyncio.gather(*(answer(p) for p in prompts)))

    return runtime.loop.run(all_answers())
