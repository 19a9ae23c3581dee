"""Each role asks for what it produces; the data sizes the generations, the same data always alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from evaluation.data import load_rows, prepare_splits
from optimizer.answer_limits import (
    GENERATION_MIN_TOKENS,
    JUDGE_MAX_TOKENS,
    MAX_RETRY_TOKENS,
    AnswerLimit,
    answer_limits,
    generation_max_tokens,
)

SAMPLE = Path(__file__).resolve().parents[2] / "evaluation" / "sample" / "helpsteer2_sample.jsonl"


@dataclass(frozen=True)
class Answer:
    response: str


def test_generations_get_twice_the_longest_reference_rounded_up():
    # 600 characters is about 150 tokens: twice that plus 24 markers is 324, rounded up to 384.
    assert generation_max_tokens(["x" * 600, "short"]) == 384
    assert generation_max_tokens(["tiny"]) == GENERATION_MIN_TOKENS
    assert generation_max_tokens(["x" * 100_000]) == MAX_RETRY_TOKENS
    assert generation_max_tokens([]) == GENERATION_MIN_TOKENS


def test_a_cut_answer_is_asked_again_with_four_times_the_limit_within_the_cap():
    assert AnswerLimit.of(80) == AnswerLimit(80, 320)
    assert AnswerLimit.of(2048) == AnswerLimit(2048, MAX_RETRY_TOKENS)
    assert AnswerLimit.of(MAX_RETRY_TOKENS).retry_max_tokens == MAX_RETRY_TOKENS  # no larger: taken as cut


@pytest.mark.parametrize("seed", [42, 7])
def test_the_same_data_always_gives_the_same_limits(seed):
    def limits() -> dict[str, dict[str, int]]:
        splits = prepare_splits(load_rows(str(SAMPLE)), seed=seed, train_size=160, dev_size=40, test_size=100)
        return answer_limits(splits.train).as_dict()

    first = limits()
    assert first == limits()
    assert first["judge"]["max_tokens"] == JUDGE_MAX_TOKENS
    # Far tighter than the 1,024 and 256 every call used to ask for on this data.
    assert first["generation"]["max_tokens"] <= 512 and first["judge"]["max_tokens"] < 256


def test_only_the_train_split_decides():
    rows = [Answer("y" * 400), Answer("z" * 40)]
    assert answer_limits(rows) == answer_limits([*rows, Answer("w" * 10)])
    assert answer_limits(rows) != answer_limits([Answer("y" * 4000)])
