"""How many tokens each role's answers may take, and the larger limit an answer cut short is asked again with.

A quota is charged a request's prompt plus its ``max_tokens`` when the request arrives (Azure and OpenAI
both), whatever the answer then uses: asking for 1,024 tokens to get 100 spends ten times the quota the
answer needs. So each role asks for what it produces:

* **judge**: a score and one sentence, in the adapter's fields (``[[ ## score ## ]]`` ... ``[[ ##
  completed ## ]]``, about 25 tokens of markers): ``JUDGE_MAX_TOKENS``;
* **generation**: twice the longest reference answer of the train split (at about four characters a
  token), plus the adapter's markers, rounded up to a multiple of 64, between 256 and 4,096. The data
  decides it, so the same data always gives the same requests;
* **proposer**: an instruction or a paragraph about the data: ``PROPOSER_MAX_TOKENS``.

An answer that reaches its limit (``finish_reason == "length"``) is asked again once, as its own request
(its own cache entry), with ``RETRY_FACTOR`` times the limit, at most ``MAX_RETRY_TOKENS`` (the output
limit every GPT-4o version accepts); the gateway counts each such retry in the ledger (``truncated``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JUDGE_MAX_TOKENS = 80
PROPOSER_MAX_TOKENS = 512
ADAPTER_MARKER_TOKENS = 24  # "[[ ## response ## ]]", "[[ ## completed ## ]]" and the blank lines around them
GENERATION_MIN_TOKENS = 256
MAX_RETRY_TOKENS = 4096
RETRY_FACTOR = 4
ROUND_TO = 64
# The generation limit outside an optimization (answering new prompts with an optimized program).
APPLY_MAX_TOKENS = 1024


@dataclass(frozen=True)
class AnswerLimit:
    """``max_tokens`` of a role's requests, and what an answer cut at it is asked again with."""

    max_tokens: int
    retry_max_tokens: int

    @classmethod
    def of(cls, max_tokens: int) -> AnswerLimit:
        return cls(max_tokens, max(max_tokens, min(MAX_RETRY_TOKENS, RETRY_FACTOR * max_tokens)))


@dataclass(frozen=True)
class AnswerLimits:
    """The limits of a run's three roles."""

    generation: AnswerLimit
    judge: AnswerLimit
    proposer: AnswerLimit

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            role: {"max_tokens": limit.max_tokens, "retry_max_tokens": limit.retry_max_tokens}
            for role, limit in (("generation", self.generation), ("judge", self.judge), ("proposer", self.proposer))
        }


def generation_max_tokens(reference_answers: Sequence[str]) -> int:
    """Twice the longest reference answer (about four characters a token) plus the adapter's markers,
    rounded up to 64, within [256, 4096]."""
    longest = max((math.ceil(len(text) / 4) for text in reference_answers), default=0)
    wanted = 2 * longest + ADAPTER_MARKER_TOKENS
    return max(GENERATION_MIN_TOKENS, min(MAX_RETRY_TOKENS, ROUND_TO * math.ceil(wanted / ROUND_TO)))


def answer_limits(train: Sequence[Any]) -> AnswerLimits:
    """The limits of a run whose train split is ``train`` (rows with a ``response``)."""
    return AnswerLimits(
        generation=AnswerLimit.of(generation_max_tokens([row.response for row in train])),
        judge=AnswerLimit.of(JUDGE_MAX_TOKENS),
        proposer=AnswerLimit.of(PROPOSER_MAX_TOKENS),
    )
