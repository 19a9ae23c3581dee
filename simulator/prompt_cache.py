"""Prompt caching as Azure OpenAI and OpenAI report it: ``usage.prompt_tokens_details.cached_tokens``.

The providers cache the prefixes of the prompts they process. A prompt of at least 1,024 tokens whose
beginning was seen before is billed its cached part at a discount; the cached count is the longest
prefix seen before, in whole steps: 1,024 tokens, then 128 more at a time (1,024, 1,152, 1,280, ...).
A shorter prompt reports 0.

The simulator keeps the same memory: for each answered prompt it records a digest of every prefix at
those boundaries (of the prompt's token ids as the simulator counts them, framing included), scoped
to the route, the served model and the API key (a provider's cache is per deployment or
organisation), at most ``capacity`` digests, the least recently seen forgotten first (a provider's
cache also lets go of unused prefixes). A prompt's cached count is its longest boundary already
recorded when it arrives.

What was seen before depends on the order requests arrive in. At concurrency 1 that order is the
run's own, so the counts are the same run after run; with many requests in flight the first of a
group sharing a prefix may differ from run to run, and with it which requests report cached tokens,
so ``cached_prompt_tokens`` and the dollars of a ledger can differ slightly between concurrencies.
Nothing else does: the answer's content never depends on it (scores, and every cache key, are the
same at any concurrency).
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from simulator import tokenizer
from simulator.protocol import message_text

MIN_CACHED_TOKENS = 1024
STEP_TOKENS = 128
DEFAULT_CAPACITY = 200_000


def prompt_token_ids(messages: Sequence[Mapping[str, Any]]) -> array[int]:
    """The prompt as a sequence of token ids, one per token ``tokenizer.prompt_tokens`` counts: per message
    four framing ids (three fixed, one for the role) and the content's, then three priming the reply."""
    ids: array[int] = array("q")
    for message in messages:
        role = zlib.crc32(str(message.get("role", "")).encode("utf-8"))
        ids.extend((-1, -2, -3, -(16 + role)))
        ids.extend(tokenizer.token_ids(message_text(message)))
    ids.extend((-4, -5, -6))
    return ids


class PromptCache:
    """The prefixes a simulated provider has seen, and how many tokens of a new prompt they cover."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    def cached_tokens(self, scope: str, messages: Sequence[Mapping[str, Any]], prompt_tokens: int) -> int:
        """The cached part of this prompt (0 under 1,024 tokens); the prompt's prefixes are recorded."""
        if prompt_tokens < MIN_CACHED_TOKENS:
            return 0
        ids = prompt_token_ids(messages).tobytes()
        width = array("q").itemsize
        total = len(ids) // width
        digest = hashlib.sha256(scope.encode("utf-8") + b"\x00")
        done = 0
        prefixes: list[tuple[int, bytes]] = []
        for boundary in range(MIN_CACHED_TOKENS, total + 1, STEP_TOKENS):
            digest.update(ids[done * width : boundary * width])
            done = boundary
            prefixes.append((boundary, digest.copy().digest()))
        cached = 0
        with self._lock:
            for boundary, key in prefixes:
                if key in self._seen:
                    cached = boundary
                    self._seen.move_to_end(key)
                else:
                    self._seen[key] = None
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
        return cached
