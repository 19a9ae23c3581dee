"""The landscape the simulator offers MIPROv2: instructions really differ, the baseline is beatable.

Everything runs in-process through ``simulator.testing.ask``, which answers exactly the bodies DSPy's
ChatAdapter sends over HTTP, so several thousand calls take a few seconds.
"""

from __future__ import annotations

import statistics

import pytest
from dspy.propose.grounded_proposer import TIPS, generate_instruction_class

from evaluation.signatures import BASELINE_INSTRUCTION
from simulator.testing import ask, mean_composite

PROMPTS: tuple[str, ...] = (
    # quick facts
    "What is the capital of Australia?",
    "Who wrote Pride and Prejudice?",
    "How many bones are in the adult human body?",
    "When did the Berlin Wall fall?",
    "What is the boiling point of water in Fahrenheit?",
    "Is a tomato a fruit or a vegetable?",
    "What does HTTP stand for?",
    "Which planet is closest to the sun?",
    # explanations
    "Why is the sky blue?",
    "Explain how photosynthesis works in plants.",
    "What is inflation and why does it happen?",
    "Can you explain what compound interest is and how it affects my savings over time?",
    "How do vaccines train the immune system to fight disease?",
    "Explain the greenhouse effect and its role in climate change.",
    "What is recursion in programming?",
    "Why do cats purr?",
    # multi-part technical
    "What is the difference between TCP and UDP? When should I use each one? What are the tradeoffs for latency?",
    "Explain how a neural network learns. What is backpropagation, and how does gradient descent fit in?",
    (
        "I'm designing a web service. 1. How should I structure the database? 2. Should I use "
        "microservices? 3. How do I add a cache layer?"
    ),
    "What are mitochondria, how do they produce energy, and why are they called the powerhouse of the cell?",
    (
        "Compare Docker and virtualization. What are the main differences, and which is better for a small "
        "team deploying a Kubernetes cluster?"
    ),
    (
        "Describe the main causes of the 2008 financial crisis. How did liquidity dry up, and what role did "
        "interest rate policy play?"
    ),
    "Explain overfitting in machine learning. How can I detect it? What techniques prevent it?",
    "How does encryption keep my messages private, and what is the difference between symmetric and asymmetric keys?",
    # coding
    "Write a Python function that checks whether a string is a palindrome.",
    "How do I reverse a linked list in Java? Please show code.",
    "Write a SQL query that returns the top five customers by total order value.",
    "My Python script throws a KeyError when reading a dictionary. How do I debug it and avoid the bug?",
    "Implement binary search in JavaScript and explain its Big O running time.",
    # writing
    "Write a haiku about autumn leaves.",
    "Write a short poem about the ocean at night.",
    "Draft a polite email to my landlord asking to fix a leaking faucet.",
    "Write a catchy slogan for a bakery.",
    "Write a short story opening about a detective who is afraid of the dark.",
    # advice
    "Should I learn Python or JavaScript first?",
    "What are some tips for sleeping better?",
    "How can I improve my public speaking skills before an important presentation next week?",
    # multi-turn
    (
        "What is a good name for a golden retriever puppy?\n<extra_id_1>Assistant\nHow about Sunny, Maple "
        "or Biscuit?\n<extra_id_1>User\nWhich of those suits a calm dog best?"
    ),
    (
        "I want to start running.\n<extra_id_1>Assistant\nGreat idea! Start with short, easy runs three "
        "times a week.\n<extra_id_1>User\nHow do I avoid shin splints, and what shoes should I buy? Also "
        "how fast should I increase my distance?"
    ),
    (
        "Tell me about the Roman Empire.\n<extra_id_1>Assistant\nThe Roman Empire ruled the Mediterranean "
        "for centuries.\n<extra_id_1>User\nWhy did it fall?"
    ),
)

SEED_OPTIMIZED = (
    "Answer the user's question concisely and clearly, tailoring your response to the complexity of the prompt. "
    "Short, simple questions require brief answers, while detailed or multi-part questions should be addressed "
    "with structured and thorough responses. Use plain language, define technical terms immediately, avoid "
    "unnecessary filler phrases, and provide direct answers optimized for user comprehension."
)
OTHER_INSTRUCTIONS = {
    "concise": "You are a helpful assistant. Keep your answers concise.",
    "thorough": "You are a helpful assistant. Give detailed, comprehensive explanations.",
    "no_filler": "Answer clearly. Avoid unnecessary filler phrases and pleasantries.",
    "creative": "Answer clearly. Use vivid analogies and an engaging, enthusiastic tone.",
}
NOISE_TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def baseline_draws() -> list[float]:
    """The baseline's mean composite under several noise draws (temperatures change every digest)."""
    return [mean_composite(BASELINE_INSTRUCTION, PROMPTS, temperature=t) for t in NOISE_TEMPERATURES]


@pytest.fixture(scope="module")
def seed_draws() -> list[float]:
    return [mean_composite(SEED_OPTIMIZED, PROMPTS, temperature=t) for t in NOISE_TEMPERATURES]


def test_prompt_set_is_varied() -> None:
    assert len(PROMPTS) == len(set(PROMPTS)) == 40
    assert sum("<extra_id_1>" in p for p in PROMPTS) >= 3


def test_baseline_is_realistic_and_the_seed_instruction_beats_it_beyond_noise(
    baseline_draws: list[float], seed_draws: list[float]
) -> None:
    baseline, seed = statistics.fmean(baseline_draws), statistics.fmean(seed_draws)
    noise = max(statistics.stdev(baseline_draws), statistics.stdev(seed_draws))
    assert 0.70 <= baseline <= 0.86
    assert 0.05 <= seed - baseline <= 0.18
    assert seed - baseline > 4 * noise
    assert max(baseline_draws) < min(seed_draws)


def test_instructions_get_clearly_different_scores(baseline_draws: list[float]) -> None:
    baseline = statistics.fmean(baseline_draws)
    noise = statistics.stdev(baseline_draws)
    scores = {name: mean_composite(text, PROMPTS) for name, text in OTHER_INSTRUCTIONS.items()}
    assert scores["thorough"] < baseline - 3 * noise  # padding everything is worse than the baseline
    assert scores["no_filler"] > baseline + 3 * noise
    assert max(scores.values()) - min(scores.values()) > 0.15


def test_some_proposals_beat_the_baseline_and_some_do_not(baseline_draws: list[float]) -> None:
    proposer = generate_instruction_class(
        use_dataset_summary=True, program_aware=True, use_task_demos=True, use_instruct_history=False, use_tip=True
    ).signature
    proposals = set()
    for i in range(12):
        tip = list(TIPS)[i % len(TIPS)]
        inputs = {
            "dataset_description": "Diverse user prompts with assistant responses.",
            "program_code": "class Generator(dspy.Module): ...",
            "program_description": "Answers a user prompt.",
            "module": "Predict(prompt) -> response",
            "module_description": "Writes the reply.",
            "task_demos": f"Prompt: example {i}",
            "basic_instruction": BASELINE_INSTRUCTION,
            "tip": TIPS[tip],
        }
        proposals.add(ask(proposer, inputs, temperature=1.0)["proposed_instruction"])
    assert len(proposals) >= 10
    baseline = statistics.fmean(baseline_draws)
    noise = statistics.stdev(baseline_draws)
    scores = sorted(mean_composite(text, PROMPTS) for text in proposals)
    assert scores[-1] > baseline + 4 * noise
    assert scores[0] < baseline
