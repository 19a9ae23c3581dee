"""The pre-run estimate: calls, tokens, cost and minutes per phase, printed before any live call."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway import tokens
from gateway.pricing import Price

PHASES = ("baseline_eval", "bootstrap", "propose", "search", "final_eval", "test_eval")
CALLS_PER_EXAMPLE = 6  # one generation, five judge calls

# Typical sizes of our prompts in tokens (system text of the DSPy adapter included), measured on the
# simulator's answers; real models answer at similar lengths for these prompts.
GEN_OVERHEAD_TOKENS = 130
GEN_COMPLETION_TOKENS = 180
JUDGE_OVERHEAD_TOKENS = 300
JUDGE_COMPLETION_TOKENS = 40
PROPOSER_PROMPT_TOKENS = 1400
PROPOSER_COMPLETION_TOKENS = 150


@dataclass(frozen=True)
class PhaseEstimate:
    phase: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    minutes: float


def mean_prompt_tokens(prompts: list[str], model: str) -> float:
    """The mean tokens of ``prompts`` as the budget's reservations count them for ``model`` (its tokenizer,
    or the UTF-8 bound without one), so that the estimate and ``--max-cost`` agree on dense text."""
    if not prompts:
        return 0.0
    framing = tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMER
    counted = (tokens.reserved_prompt_tokens(model, [{"role": "user", "content": p}]) - framing for p in prompts)
    return sum(counted) / len(prompts)


def approximate_prompt_tokens(prompts: list[str]) -> float:
    """The mean tokens of ``prompts`` at about four characters a token: no tokenizer is loaded for it."""
    if not prompts:
        return 0.0
    framing = tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMER
    return sum(tokens.estimate_prompt_tokens([{"role": "user", "content": p}]) - framing for p in prompts) / len(
        prompts
    )


def bootstrap_examples(num_candidates: int) -> int:
    """Examples MIPROv2 bootstraps in zero-shot mode: one set of 3, then sets of 1–3 (2 on average)."""
    return 3 + 2 * max(0, num_candidates - 2)


def proposer_calls(train_size: int, num_candidates: int) -> int:
    """Dataset summary (observations per 10 examples, at most 10, and a summary), then per candidate
    a program description, a module description and the instruction."""
    batches = min(10, max(1, math.ceil(train_size / 10)))
    return batches + 1 + 3 * num_candidates


def estimate_run(
    *,
    train_size: int,
    dev_size: int,
    test_size: int,
    num_candidates: int,
    num_trials: int,
    mean_prompt_tokens: float,
    task_price: Price | None,
    judge_price: Price | None,
    prompt_price: Price | None,
    concurrency: int,
    call_latency_s: float,
    minibatch: bool = False,
) -> list[PhaseEstimate]:
    """Upper-bound-ish estimate of every phase (search assumes every trial evaluates the full dev set).

    Generations are priced as the task model, judge calls as the judge model and proposals as the
    prompt model, each with the run's one price resolution (``gateway.pricing.PriceBook``); a role
    without a known price makes the cost of its phases unknown.
    """
    gen_in = GEN_OVERHEAD_TOKENS + mean_prompt_tokens
    judge_in = JUDGE_OVERHEAD_TOKENS + mean_prompt_tokens + GEN_COMPLETION_TOKENS

    def examples_phase(name: str, examples: int, sequential: bool = False) -> PhaseEstimate:
        calls = examples * CALLS_PER_EXAMPLE
        prompt = int(examples * (gen_in + 5 * judge_in))
        completion = int(examples * (GEN_COMPLETION_TOKENS + 5 * JUDGE_COMPLETION_TOKENS))
        cost = _cost(
            (task_price, examples * gen_in, examples * GEN_COMPLETION_TOKENS),
            (judge_price, examples * 5 * judge_in, examples * 5 * JUDGE_COMPLETION_TOKENS),
        )
        # Each example is a generation then its judges at once: two calls deep.
        if not examples:
            seconds = 0.0
        elif sequential:
            seconds = examples * 2 * call_latency_s
        else:
            seconds = max(2 * call_latency_s, calls * call_latency_s / concurrency)
        return PhaseEstimate(name, calls, prompt, completion, cost, seconds / 60.0)

    proposals = proposer_calls(train_size, num_candidates)
    p_in, p_out = proposals * PROPOSER_PROMPT_TOKENS, proposals * PROPOSER_COMPLETION_TOKENS
    search = examples_phase("search", dev_size * (num_trials + 1))
    return [
        examples_phase("baseline_eval", dev_size + test_size),
        examples_phase("bootstrap", bootstrap_examples(num_candidates), sequential=True),
        PhaseEstimate(
            "propose", proposals, p_in, p_out, _cost((prompt_price, p_in, p_out)), proposals * call_latency_s / 60.0
        ),
        PhaseEstimate(
            search.phase,
            search.calls,
            search.prompt_tokens,
            search.completion_tokens,
            search.cost_usd,
            (num_trials + 1) * max(2 * call_latency_s, dev_size * 6 * call_latency_s / concurrency) / 60,
        ),
        # Without minibatches the winner's search trial is its dev score; with them it is evaluated again.
        examples_phase("final_eval", dev_size if minibatch else 0),
        examples_phase("test_eval", test_size),
    ]


def _cost(*parts: tuple[Price | None, float, float]) -> float | None:
    """The cost of (price, prompt tokens, completion tokens) parts; None if any part with tokens is unpriced."""
    total = 0.0
    for price, prompt, completion in parts:
        if not prompt and not completion:
            continue
        if price is None:
            return None
        total += price.cost(int(prompt), int(completion))
    return total


MIPRO_FOOTNOTE = (
    "  (search assumes every trial is a fresh full evaluation; repeated instructions come from the cache at no cost;",
    (
        "   minutes assume one phase after another and one trial after another: the run overlaps them, so it "
        "usually takes less)"
    ),
)


def format_estimate(
    rows: list[PhaseEstimate], *, concurrency: int, cached_note: str = "", footnote: tuple[str, ...] = MIPRO_FOOTNOTE
) -> str:
    lines = [
        f"Estimate before any live call (concurrency {concurrency}){cached_note}:",
        f"  {'phase':<14}{'calls':>8}{'prompt tok':>12}{'compl tok':>11}{'cost $':>10}{'minutes':>9}",
    ]
    for r in rows:
        cost = f"{r.cost_usd:.2f}" if r.cost_usd is not None else "unknown"
        lines.append(
            f"  {r.phase:<14}{r.calls:>8}{r.prompt_tokens:>12}{r.completion_tokens:>11}{cost:>10}{r.minutes:>9.2f}"
        )
    total_cost = None if any(r.cost_usd is None for r in rows) else sum(r.cost_usd or 0 for r in rows)
    cost = f"{total_cost:.2f}" if total_cost is not None else "unknown"
    lines.append(
        f"  {'total':<14}{sum(r.calls for r in rows):>8}{sum(r.prompt_tokens for r in rows):>12}"
        f"{sum(r.completion_tokens for r in rows):>11}{cost:>10}{sum(r.minutes for r in rows):>9.2f}"
    )
    lines.extend(footnote)
    return "\n".join(lines)
