"""What a call costs: one price resolution, used by the pre-run estimate, the budget cap and the ledger.

The rule (``PriceBook.pricing_name``), for a call to an endpoint:

1. ``--price-model`` (``Endpoint.price_model``) when it is given: every call to that endpoint is priced
   as that model.
2. Else, for an Azure deployment (``azure/<deployment>``), the model the provider says served it. A
   deployment's name is chosen by its owner and is not a model name (a deployment called ``gpt-4o`` may
   serve anything), but Azure names the underlying model in every completion
   (``"model": "gpt-4o-2024-08-06"``). A live or cached answer is priced from the model it names; the
   budget's reservations and the estimate, which come before any answer, use the served model last
   seen for that endpoint: learned from an answer of this run, or from the note an earlier run left in
   the response cache under ``served_model_key`` (a run writes it whenever its cache policy writes).
   Before either exists the deployment has no price.
3. Else the model name itself (``openai/gpt-4o`` is priced as ``gpt-4o``).

Prompt tokens the provider served from its prompt cache (``usage.prompt_tokens_details.cached_tokens``)
cost the model's cache-read price (``cache_read_input_token_cost``), the rest of the prompt its input
price. Prices come from LiteLLM's price map. A name the map does not list has no price: such calls are
reported as unknown, never as $0, and ``--max-cost`` refuses to start, or to send a call, until the
price is known (``PriceUnknown``): a cap that cannot count would be no cap.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cache._base import CacheStore
from cache.errors import CorruptEntry
from cache.key import content_hash
from gateway.errors import PriceUnknown
from gateway.types import Endpoint

NOTE_VERSION = "v1"
# The price model of a model served on the user's own machine (``--local-model``): every call costs $0.
FREE_PRICE = "local/free"


@dataclass(frozen=True)
class Price:
    """Dollars per prompt and per completion token of one priced model, and what else its entry says.

    ``cache_read_usd`` is what a prompt token costs when the provider serves it from its prompt cache
    (``cache_read_input_token_cost``; the full prompt price when the map gives none).
    ``max_output_tokens`` is the most a single completion can be (None when the map does not say).
    """

    name: str
    prompt_usd: float
    completion_usd: float
    cache_read_usd: float | None = None
    max_output_tokens: int | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0) -> float:
        """The cost of a call's tokens; ``cached_prompt_tokens`` (part of ``prompt_tokens``) at the cache-read price."""
        cached = max(0, min(cached_prompt_tokens, prompt_tokens))
        cache_read = self.prompt_usd if self.cache_read_usd is None else self.cache_read_usd
        full = prompt_tokens - cached
        return full * self.prompt_usd + cached * cache_read + completion_tokens * self.completion_usd


def price_of(name: str | None) -> Price | None:
    """The price of a model name in LiteLLM's map (with or without its provider prefix); None if unlisted."""
    if name == FREE_PRICE:
        return Price(FREE_PRICE, 0.0, 0.0)
    return _price(name) if name else None


def listed_provider(name: str) -> str | None:
    """The provider LiteLLM's map lists a model name under (``openai/gpt-4o`` -> ``openai``); None if unlisted."""
    info = _price_map().get(name.split("/", 1)[1] if "/" in name else name)
    provider = info.get("litellm_provider") if isinstance(info, dict) else None
    return str(provider) if provider else None


@lru_cache(maxsize=1)
def _price_map() -> dict[str, Any]:
    """LiteLLM's price map, read from the file it ships.

    It is the map LiteLLM itself loads with ``LITELLM_LOCAL_MODEL_COST_MAP=True``; reading the file
    keeps a replayed run from importing LiteLLM (seconds of start-up) only to price cached calls.
    """
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        import litellm

        data = dict(litellm.model_cost)
    return data


@lru_cache(maxsize=256)
def _price(name: str) -> Price | None:
    candidates = [name]
    if "/" in name:
        candidates.append(name.split("/", 1)[1])
    prices = _price_map()
    for candidate in candidates:
        info = prices.get(candidate)
        if info and info.get("input_cost_per_token") is not None:
            cache_read = info.get("cache_read_input_token_cost")
            return Price(
                name,
                float(info["input_cost_per_token"]),
                float(info.get("output_cost_per_token") or 0.0),
                cache_read_usd=None if cache_read is None else float(cache_read),
                max_output_tokens=_max_output(info),
            )
    return None


def _max_output(info: dict[str, Any]) -> int | None:
    """The longest completion a model's map entry allows (its output limit, else its context window)."""
    for field_name in ("max_output_tokens", "max_tokens", "max_input_tokens"):
        value = info.get(field_name)
        if isinstance(value, int) and value > 0:
            return value
    return None


def usage_tokens(response: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens an answer's ``usage`` reports; cached ones are part of
    the prompt's (``usage.prompt_tokens_details.cached_tokens``, as OpenAI and Azure report them)."""
    usage = (response.get("usage") if isinstance(response, dict) else None) or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return (
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(cached) if isinstance(cached, int) and cached > 0 else 0,
    )


def served_model_key(identity: str) -> str:
    """The response-cache key of the note naming the model an endpoint serves (never a request's key)."""
    return f"served-model:{NOTE_VERSION}:{content_hash(identity)}"


class PriceBook:
    """Resolves the price of an endpoint's calls (see the module docstring) and learns served models.

    Pure bookkeeping, no I/O: the owner reads the note of an endpoint into it (``recall``) before it
    prices that endpoint's calls, and stores the note ``learn`` hands back when a served model changes.
    """

    def __init__(self) -> None:
        self._served: dict[str, str | None] = {}  # endpoint identity -> served model (None: none known)

    @staticmethod
    def priced_by_answer(endpoint: Endpoint) -> bool:
        """Whether the endpoint's calls are priced from the model its answers name (rule 2)."""
        return not endpoint.price_model and endpoint.model.startswith("azure/")

    def needs_note(self, endpoint: Endpoint) -> bool:
        """Whether the endpoint's note should be read before its calls are priced."""
        return self.priced_by_answer(endpoint) and endpoint.identity not in self._served

    async def recall(self, store: CacheStore | None, endpoint: Endpoint) -> None:
        """Read the note an earlier run left for ``endpoint`` (once; a damaged note is no note)."""
        if not self.needs_note(endpoint):
            return
        served = None
        if store is not None:
            try:
                note = await store.lookup(served_model_key(endpoint.identity))
            except CorruptEntry:
                note = None
            if note is not None:
                served = _served_name({"model": note.get("served_model")})
        self._served.setdefault(endpoint.identity, served)  # an answer learned meanwhile wins

    def served_model(self, endpoint: Endpoint) -> str | None:
        """The model last seen serving ``endpoint``, from this run or a note of an earlier one."""
        return self._served.get(endpoint.identity)

    def learn(self, endpoint: Endpoint, response: Any) -> dict[str, str] | None:
        """Remember the model an answer for ``endpoint`` names, when its price depends on it.

        Returns the note to store under ``served_model_key`` when the served model is new or changed.
        """
        if not self.priced_by_answer(endpoint):
            return None
        served = _served_name(response)
        if served is None or served == self._served.get(endpoint.identity):
            return None
        self._served[endpoint.identity] = served
        return {"served_model": served}

    def pricing_name(self, endpoint: Endpoint, response: Any = None) -> str | None:
        """The model name calls to ``endpoint`` are priced as (``response``: the answer being priced)."""
        if endpoint.price_model:
            return endpoint.price_model
        if endpoint.model.startswith("azure/"):
            served = _served_name(response) if response is not None else None
            served = served or self.served_model(endpoint)
            return f"azure/{served}" if served else None
        return endpoint.model

    def price(self, endpoint: Endpoint, response: Any = None) -> Price | None:
        """The price of a call to ``endpoint`` (of the answer ``response``, if given); None if unknown."""
        return price_of(self.pricing_name(endpoint, response))

    def cost(self, endpoint: Endpoint, response: Any) -> float | None:
        """What the answer ``response`` cost, from its usage; None when its price is unknown."""
        price = self.price(endpoint, response)
        if price is None:
            return None
        return price.cost(*usage_tokens(response))

    def require(self, endpoint: Endpoint) -> Price:
        """The price the budget cap counts a call to ``endpoint`` at; raises ``PriceUnknown`` without one."""
        price = self.price(endpoint)
        if price is not None:
            return price
        if endpoint.price_model:
            raise PriceUnknown(
                f"--price-model {endpoint.price_model!r} has no price in LiteLLM's price map; "
                "name a listed model, e.g. --price-model gpt-4o"
            )
        if endpoint.model.startswith("azure/"):
            raise PriceUnknown(
                f"--max-cost cannot price {endpoint.model!r}: a deployment name is not a model name and no "
                "earlier answer from it is cached; give --price-model (e.g. --price-model gpt-4o)"
            )
        raise PriceUnknown(
            f"--max-cost cannot price {endpoint.model!r}: LiteLLM's price map does not list it; "
            "give --price-model (e.g. --price-model gpt-4o)"
        )


def _served_name(response: Any) -> str | None:
    model = response.get("model") if isinstance(response, dict) else None
    return model if isinstance(model, str) and model.strip() == model and model else None
