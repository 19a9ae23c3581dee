"""The estimate counts prompts as the budget's reservations do, so it is not under on dense text."""

from __future__ import annotations

from gateway import tokens
from gateway.testing import dense_prompt
from optimizer.estimate import mean_prompt_tokens


def test_dense_prompts_are_counted_with_the_models_tokenizer():
    prompts = [dense_prompt(i, chars=600) for i in range(6)]  # Chinese text, code and long URLs
    counted = [tokens.count_prompt_tokens("gpt-4o", [{"role": "user", "content": p}]) - 7 for p in prompts]
    mean = mean_prompt_tokens(prompts, "openai/gpt-4o")
    assert mean == sum(counted) / len(counted)
    assert mean > 1.5 * sum(len(p) for p in prompts) / len(prompts) / 4  # what four characters a token gave


def test_a_model_without_an_openai_tokenizer_is_bounded_by_bytes_and_no_prompts_count_zero():
    assert mean_prompt_tokens(["日本語"], "anthropic/claude-x") == len("日本語".encode())
    assert mean_prompt_tokens([], "openai/gpt-4o") == 0.0
