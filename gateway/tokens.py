"""Counting a request's prompt tokens as OpenAI's tokenizers do, offline, for quota admission.

A quota counts a request's prompt tokens plus its ``max_tokens`` when the request arrives. The
gateway counts exactly only when a quota is in play (``--tpm``/``--rpm``, or the provider reports
one): then an estimate either wastes quota or overdraws it, and the CPU a count takes (a few hundred
microseconds) is nothing next to the wait for quota. Otherwise it estimates at about four characters
a token (``estimate_prompt_tokens``), which costs nothing and is only used to reserve budget.

The encodings are tiktoken's, read from the files LiteLLM ships in its package
(``litellm/litellm_core_utils/tokenizers``: ``o200k_base`` for GPT-4o and later, ``cl100k_base`` for
GPT-4 and GPT-3.5; it also ships ``p50k_base``, for models no longer served, and Hugging Face
tokenizers of Anthropic and DeepSeek models, which are not OpenAI's), so nothing is downloaded; each
file's SHA-256 is checked before use. LiteLLM itself is not imported (seconds of start-up). When
neither file can be read, counting falls back to the estimate, once, with a warning.

Messages are framed as OpenAI's guide counts them: 3 tokens a message, plus its role (1), plus its
content; 3 more prime the reply.

A budget reservation must never count fewer tokens than the provider bills (``reserved_prompt_tokens``):
it counts with the model's tokenizer when the model is one of OpenAI's (GPT-4o's tokenizer on dense
text, CJK, code or long URLs, counts up to three times the four-characters estimate), and otherwise,
or when the tokenizer cannot be read, bounds the count by the prompt's UTF-8 bytes: a byte-level BPE
token (OpenAI's, Anthropic's, Llama's) covers at least one byte, so no tokenizer counts more.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("gateway")

# Name -> (file name in LiteLLM's tokenizers folder (tiktoken's cache key of its URL), SHA-256 of the file).
ENCODING_FILES: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "fb374d419588a4632f3f557e76b4b70aebbca790",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
TOKENS_PER_MESSAGE = 4  # 3 of framing and 1 for the role
REPLY_PRIMER = 3

_OLDER_MODELS = ("gpt-4-", "gpt-4:", "gpt-35", "gpt-3.5")
# Model names whose prompts OpenAI's encodings count exactly (Azure's deployments are priced, and so
# counted, as the model they serve).
_OPENAI_MODELS = ("gpt-", "o1", "o3", "o4", "chatgpt-", "ft:gpt-")
_lock = threading.Lock()
_build_lock = threading.Lock()
_LOADED: set[str] = set()
_FAILED: set[str] = set()


class TokenizerUnavailable(RuntimeError):
    """The encoding file is missing from LiteLLM's package or does not match its checksum."""


def encoding_name(model: str) -> str:
    """The encoding a model's prompts are counted in: cl100k_base for GPT-4 and GPT-3.5, else o200k_base."""
    name = model.rsplit("/", 1)[-1].lower()
    return "cl100k_base" if name == "gpt-4" or name.startswith(_OLDER_MODELS) else "o200k_base"


def tokenizers_dir() -> Path:
    """The folder of tiktoken files that LiteLLM's package ships."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        raise TokenizerUnavailable("LiteLLM is not installed; its tokenizer files are needed to count tokens")
    return Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"


def load_encoding(name: str = "o200k_base") -> Any:
    """The tiktoken ``Encoding`` ``name``, built from LiteLLM's shipped file (about half a second, once,
    whichever thread asks first: the embedded simulator's and the gateway's may ask at the same time)."""
    with _build_lock:
        return _build_encoding(name)


@functools.cache
def _build_encoding(name: str) -> Any:
    import tiktoken
    from tiktoken_ext import openai_public

    ranks = read_ranks(name, tokenizers_dir())
    # The pattern and special tokens of tiktoken's own definition; only the ranks come from the file.
    return tiktoken.Encoding(**_definition(openai_public, name, ranks))


def read_ranks(name: str, directory: Path) -> dict[bytes, int]:
    """The merge ranks of encoding ``name`` from its file in ``directory``, after checking its SHA-256."""
    import base64

    file_name, sha256 = ENCODING_FILES[name]
    path = directory / file_name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenizerUnavailable(f"cannot read the {name} tokenizer at {path}: {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise TokenizerUnavailable(f"the {name} tokenizer at {path} does not match its checksum")
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}


def _definition(openai_public: Any, name: str, ranks: dict[bytes, int]) -> dict[str, Any]:
    # tiktoken's constructors fetch their file; give them ours instead of letting them reach the network.
    original = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda *args, **kwargs: ranks
    try:
        spec: dict[str, Any] = getattr(openai_public, name)()
    finally:
        openai_public.load_tiktoken_bpe = original
    return spec


def ready(model: str) -> bool:
    """Whether counting for ``model`` needs no more loading (loaded, or known to fall back to the estimate)."""
    name = encoding_name(model)
    return name in _LOADED or name in _FAILED


def prepare(model: str) -> None:
    """Load ``model``'s encoding now (call it off the event loop: it takes about half a second)."""
    name = encoding_name(model)
    with _lock:
        if name in _LOADED or name in _FAILED:
            return
        try:
            load_encoding(name)
        except (TokenizerUnavailable, ImportError, ValueError) as exc:
            _FAILED.add(name)
            log.warning("tokens.estimate_only", encoding=name, reason=str(exc))
            return
        _LOADED.add(name)


@functools.lru_cache(maxsize=8192)
def _content_tokens(name: str, text: str) -> int:
    # Instructions and system prompts repeat across thousands of calls: count each text once.
    return len(load_encoding(name).encode_ordinary(text))


def count_prompt_tokens(model: str, messages: Sequence[Mapping[str, Any]]) -> int:
    """The prompt tokens of ``messages`` as the provider counts them (the estimate if the encoding is unavailable)."""
    name = encoding_name(model)
    if name not in _LOADED:
        prepare(model)
        if name not in _LOADED:
            return estimate_prompt_tokens(messages)
    return sum(_content_tokens(name, _text(m)) + TOKENS_PER_MESSAGE for m in messages) + REPLY_PRIMER


def counted_exactly(model: str) -> bool:
    """Whether ``model``'s prompts are counted by one of OpenAI's encodings (an OpenAI model, by its name)."""
    return model.rsplit("/", 1)[-1].lower().startswith(_OPENAI_MODELS)


def reserved_prompt_tokens(model: str, messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens a budget reservation counts: never fewer than the provider will bill (see the docstring).

    The tokenizer's count for an OpenAI model whose encoding loaded; otherwise the UTF-8 bound.
    """
    if counted_exactly(model):
        name = encoding_name(model)
        if name not in _LOADED:
            prepare(model)
        if name in _LOADED:
            return count_prompt_tokens(model, messages)
    return bound_prompt_tokens(messages)


def bound_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """An upper bound of any byte-level tokenizer's count: a token a UTF-8 byte of content, with the framing."""
    return sum(len(_text(m).encode("utf-8")) + TOKENS_PER_MESSAGE for m in messages) + REPLY_PRIMER


def estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """About four characters a token, rounded up, with the same framing: near the real count for English
    prose (a little over it), under it for punctuation-dense text."""
    return sum(-(-len(_text(m)) // 4) + TOKENS_PER_MESSAGE for m in messages) + REPLY_PRIMER


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)
