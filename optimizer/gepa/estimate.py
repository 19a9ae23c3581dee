"""The pre-run estimate of a GEPA run: its metric-call budget as evaluations, and its reflections."""

from __future__ import annotations

from gateway.pricing import Price
from optimizer.estimate import (
    GEN_COMPLETION_TOKENS,
    GEN_OVERHEAD_TOKENS,
    JUDGE_COMPLETION_TOKENS,
    JUDGE_OVERHEAD_TOKENS,
    PhaseEstimate,
    _cost,
    estimate_run,
)
from optimizer.gepa.config import GEPAConfig, metric_call_budget, reflection_calls_bound

# The reflection prompt: DSPy's instructions and the current instruction, then per minibatch example
# its prompt, the response and the feedback (five scored justifications); the answer: a new instruction.
REFLECTION_OVERHEAD_TOKENS = 450
FEEDBACK_TOKENS = 200
REFLECTION_COMPLETION_TOKENS = 220
GEPA_FOOTNOTE = (
    "  (search assumes every metric call of GEPA's budget is a fresh example, six calls; parents evaluated again",
    "   on examples they have seen come from the cache at no cost; reflect counts a reflection per minibatch pair)",
)


def estimate_gepa_run(
    config: GEPAConfig,
    *,
    dev_size: int,
    test_size: int,
    mean_prompt_tokens: float,
    task_price: Price | None,
    judge_price: Price | None,
    reflection_price: Price | None,
    concurrency: int,
    call_latency_s: float,
) -> list[PhaseEstimate]:
    """An upper bound: every metric call in the budget a fresh example (a generation and five judge calls),
    and a reflection for every parent and child minibatch pair the rest of the budget allows."""
    budget = metric_call_budget(config, dev_size)
    # MIPROv2's estimate with no bootstrap, no proposals and one "trial" sized to the budget gives the
    # evaluation phases on the same assumptions (baseline, search, test).
    rows = estimate_run(
        train_size=0,
        dev_size=dev_size,
        test_size=test_size,
        num_candidates=2,
        num_trials=1,
        mean_prompt_tokens=mean_prompt_tokens,
        task_price=task_price,
        judge_price=judge_price,
        prompt_price=None,
        concurrency=concurrency,
        call_latency_s=call_latency_s,
    )
    by_phase = {row.phase: row for row in rows}
    gen_in = GEN_OVERHEAD_TOKENS + mean_prompt_tokens
    judge_in = JUDGE_OVERHEAD_TOKENS + mean_prompt_tokens + GEN_COMPLETION_TOKENS
    calls = 6 * budget
    prompt = int(budget * (gen_in + 5 * judge_in))
    completion = int(budget * (GEN_COMPLETION_TOKENS + 5 * JUDGE_COMPLETION_TOKENS))
    search_cost = _cost(
        (task_price, budget * gen_in, budget * GEN_COMPLETION_TOKENS),
        (judge_price, budget * 5 * judge_in, budget * 5 * JUDGE_COMPLETION_TOKENS),
    )
    # GEPA evaluates a minibatch, reflects, evaluates the child: one small evaluation at a time.
    steps = max(1, budget // max(1, config.reflection_minibatch_size))
    search_minutes = steps * max(
        2 * call_latency_s, config.reflection_minibatch_size * 6 * call_latency_s / concurrency
    )
    reflections = reflection_calls_bound(config, dev_size)
    r_in = int(
        reflections
        * (
            REFLECTION_OVERHEAD_TOKENS
            + config.reflection_minibatch_size * (mean_prompt_tokens + GEN_COMPLETION_TOKENS + FEEDBACK_TOKENS)
        )
    )
    r_out = reflections * REFLECTION_COMPLETION_TOKENS
    return [
        by_phase["baseline_eval"],
        PhaseEstimate("search", calls, prompt, completion, search_cost, search_minutes / 60.0),
        PhaseEstimate(
            "reflect",
            reflections,
            r_in,
            r_out,
            _cost((reflection_price, r_in, r_out)),
            reflections * call_latency_s / 60,
        ),
        by_phase["test_eval"],
    ]
