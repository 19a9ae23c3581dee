"""Tokens as the simulated GPT-4o counts them: OpenAI's ``o200k_base`` BPE, offline.

The encoding is tiktoken's, built from the file LiteLLM ships (``gateway.tokens.load_encoding``,
checksummed; nothing is downloaded). The simulator counts a request's prompt as OpenAI's guide does
(each message's content, plus 4 tokens of framing and role, plus 3 priming the reply), charges a
quota with that count plus ``max_tokens``, reports it in ``usage``, and cuts a completion at
``max_tokens`` of these tokens. A client that estimates differently from a real tokenizer therefore
meets the same surprises here as with a real provider.

Loading takes a quarter to half a second; ``Simulator.start`` does it before it listens, unless the
simulator was made with ``preload_tokenizer=False`` (the embedded one), which leaves it to the first request.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.tokens import load_encoding
from simulator.protocol import message_text

ENCODING = "o200k_base"
TOKENS_PER_MESSAGE = 4
REPLY_PRIMER = 3


def load() -> None:
    """Load the encoding now (otherwise the first request pays for it)."""
    load_encoding(ENCODING)


@functools.lru_cache(maxsize=16384)
def count_tokens(text: str) -> int:
    """The number of o200k_base tokens of ``text`` (system prompts repeat: each text is counted once)."""
    return len(load_encoding(ENCODING).encode_ordinary(text))


@functools.lru_cache(maxsize=4096)
def token_ids(text: str) -> tuple[int, ...]:
    """The o200k_base token ids of ``text`` (the prompt cache hashes a prompt's prefixes by them)."""
    return tuple(load_encoding(ENCODING).encode_ordinary(text))


def prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """A request's prompt tokens, framed as OpenAI counts them."""
    return sum(count_tokens(message_text(m)) + TOKENS_PER_MESSAGE for m in messages) + REPLY_PRIMER


def truncate(text: str, limit: int) -> tuple[str, int, bool]:
    """``text`` cut to at most ``limit`` tokens: the text, its tokens, and whether it was cut."""
    ids = load_encoding(ENCODING).encode_ordinary(text)
    if len(ids) <= limit:
        return text, len(ids), False
    return load_encoding(ENCODING).decode(ids[:limit]), limit, True
