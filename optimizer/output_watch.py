"""Model outputs that DSPy's bootstrap and instruction proposer could not parse: the run stops on them.

DSPy's adapters already ask again once when they cannot parse an answer (``ChatAdapter`` falls back
to ``JSONAdapter``, a request of its own). What they still cannot parse ends as ``AdapterParseError``,
which DSPy's bootstrap catches (it drops the example and goes on), its proposer partly catches (it
goes on without a dataset summary or a program description) and partly lets out as a traceback (the
instruction itself). Either way the run would silently be another run, or die unreadably after
minutes of paid calls.

``watch_outputs`` puts a DSPy callback in the context of a step (it follows the step into the threads
it starts with a copy of its context): the first module call that ends in a parse failure is
recorded in the run's ``RunStop`` as a ``ModelOutputError`` naming the model that answered, the step
and the flag to change. The step's caller then raises it: one line for the user, exit 2, and the
calls made so far stay cached for the rerun.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import dspy
from dspy.utils.callback import BaseCallback

from evaluation.engine import ModelOutputError, describe_parse_failure, judging, parse_failure
from gateway.dspy_lm import RunStop


class OutputWatch(BaseCallback):  # type: ignore[misc]  # DSPy is untyped: its BaseCallback is Any to mypy
    """Records the first module call of a step that ended in an adapter parse failure."""

    def __init__(self, stop: RunStop, *, role: str, step: str, flag: str) -> None:
        self.stop = stop
        self.role = role
        self.step = step
        self.flag = flag
        self._lock = threading.Lock()
        self._models: dict[str, str] = {}  # call id -> the model the module called

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        lm = getattr(instance, "lm", None) or dspy.settings.lm
        with self._lock:
            self._models[call_id] = str(getattr(lm, "model", "?"))

    def on_module_end(self, call_id: str, outputs: Any | None, exception: Exception | None = None) -> None:
        with self._lock:
            model = self._models.pop(call_id, "?")
        failure = parse_failure(exception) if exception is not None else None
        # The judge's calls (the bootstrap's metric asks it) have failures of their own: left out, not this step's.
        if failure is not None and not judging():
            # Modules nest (a program around a predictor): the innermost ends first and is recorded.
            self.stop.record(
                ModelOutputError(
                    role=self.role,
                    model=model,
                    step=self.step,
                    detail=f"{describe_parse_failure(failure)}, also in DSPy's JSON mode",
                    flag=self.flag,
                )
            )


@contextlib.contextmanager
def watch_outputs(stop: RunStop, *, role: str, step: str, flag: str) -> Iterator[OutputWatch]:
    """Record in ``stop`` the first model output of the block that DSPy's adapters could not parse."""
    watch = OutputWatch(stop, role=role, step=step, flag=flag)
    callbacks = [*dspy.settings.get("callbacks", []), watch]
    with dspy.context(callbacks=callbacks):
        yield watch
