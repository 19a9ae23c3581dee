"""The DSPy module globals our MIPROv2 replaces, swapped once per process and dispatched per context.

MIPROv2 finds ``Evaluate``, ``eval_candidate_program``, ``GroundedProposer`` and ``_import_optuna``
in the globals of ``dspy.teleprompt.mipro_optimizer_v2``; its demo-set helper finds
``BootstrapFewShot`` in those of ``dspy.teleprompt.utils``, the bootstrap draws its bars with
``dspy.teleprompt.bootstrap.tqdm``, and MIPROv2 and its helpers print to ``sys.stdout``.
``PhasedMIPROv2`` puts its own in their place (and keeps the prints off the console). Module globals
belong to the whole process, so an optimizer that swapped them in and back out by itself would
break any other optimizer running at the same time in the same process (a sweep's cells): the
second would save the first one's stand-ins as "DSPy's" and restore them after the first had
finished, and each would run the other's evaluations.

Here the swap happens once (``optimizer/swapped_globals.py``): while at least one optimizer runs
(``dispatching``), a stand-in sits in each place and hands every call to the optimizer of the calling
context. That optimizer's
``Hooks`` live in a context variable, set on the thread that runs ``compile`` and copied into every
thread and task it starts (``optimizer.mipro.concurrent.run_concurrently``, the gateway loop's tasks), so
a call always reaches the optimizer that made it. With no optimizer in the context, DSPy's own
object answers, as if nothing were swapped. The last optimizer to finish puts DSPy's objects back.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dspy.teleprompt import bootstrap as bootstrap_module
from dspy.teleprompt import mipro_optimizer_v2
from dspy.teleprompt import utils as teleprompt_utils

from optimizer.swapped_globals import SwappedGlobals

_BOOTSTRAP_LOG = logging.getLogger("dspy.teleprompt.bootstrap")


@dataclass
class Hooks:
    """What one optimizer puts in DSPy's place; ``bootstrap`` only while it bootstraps its demo sets."""

    evaluate: Callable[..., Any]  # called as ``Evaluate(devset=..., metric=..., ...)``
    eval_candidate_program: Callable[..., Any]
    proposer: Callable[..., Any]  # called as ``GroundedProposer(...)``
    import_optuna: Callable[[], Any]
    stop_reason: Callable[[], BaseException | None]  # the error that is ending the run, if any
    bootstrap: Callable[..., Any] | None = None  # called as ``BootstrapFewShot(...)``


def active() -> Hooks | None:
    """The hooks of the optimizer running in this context, if any."""
    return _SWAP.current()


# -- the stand-ins ----------------------------------------------------------------------------------
def _evaluate(*args: Any, **kwargs: Any) -> Any:
    hooks = _SWAP.current()
    return hooks.evaluate(*args, **kwargs) if hooks is not None else _SWAP.stock("Evaluate")(*args, **kwargs)


def _eval_candidate_program(*args: Any, **kwargs: Any) -> Any:
    hooks = _SWAP.current()
    stock = _SWAP.stock("eval_candidate_program")
    return hooks.eval_candidate_program(*args, **kwargs) if hooks is not None else stock(*args, **kwargs)


def _grounded_proposer(*args: Any, **kwargs: Any) -> Any:
    hooks = _SWAP.current()
    return hooks.proposer(*args, **kwargs) if hooks is not None else _SWAP.stock("GroundedProposer")(*args, **kwargs)


def _import_optuna() -> Any:
    hooks = _SWAP.current()
    return hooks.import_optuna() if hooks is not None else _SWAP.stock("_import_optuna")()


def _bootstrap_few_shot(*args: Any, **kwargs: Any) -> Any:
    hooks = _SWAP.current()
    if hooks is not None and hooks.bootstrap is not None:
        return hooks.bootstrap(*args, **kwargs)
    return _SWAP.stock("BootstrapFewShot")(*args, **kwargs)


def _tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    # An optimizer reports progress itself: its bootstrap sets, all running at once, draw no bars.
    if _SWAP.current() is not None:
        return iterable
    return _SWAP.stock("tqdm").tqdm(iterable, *args, **kwargs)


class _QuietWhenStopping(logging.Filter):
    """Drops DSPy's per-example bootstrap failure lines of a run that is ending (it reports its one error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        hooks = _SWAP.current()
        return hooks is None or hooks.stop_reason() is None


class _ContextStdout:
    """``sys.stdout`` while optimizers run: what they print is dropped, anyone else's goes through."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _SWAP.current() is not None:
            return len(text)
        written: int = self._stream.write(text)
        return written

    def flush(self) -> None:
        if _SWAP.current() is None:
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_QUIET_FILTER = _QuietWhenStopping()
_PLACES: tuple[tuple[types.ModuleType, str, Any], ...] = (
    (mipro_optimizer_v2, "Evaluate", _evaluate),
    (mipro_optimizer_v2, "eval_candidate_program", _eval_candidate_program),
    (mipro_optimizer_v2, "GroundedProposer", _grounded_proposer),
    (mipro_optimizer_v2, "_import_optuna", _import_optuna),
    (teleprompt_utils, "BootstrapFewShot", _bootstrap_few_shot),
    (bootstrap_module, "tqdm", types.SimpleNamespace(tqdm=_tqdm)),
)


_stdout: _ContextStdout | None = None


def _install() -> None:
    global _stdout
    _BOOTSTRAP_LOG.addFilter(_QUIET_FILTER)
    _stdout = _ContextStdout(sys.stdout)
    sys.stdout = _stdout


def _uninstall() -> None:
    global _stdout
    if sys.stdout is _stdout:  # unless someone replaced it since (then theirs stays)
        sys.stdout = _stdout._stream
    _stdout = None
    _BOOTSTRAP_LOG.removeFilter(_QUIET_FILTER)


_SWAP: SwappedGlobals[Hooks] = SwappedGlobals("mipro_hooks", _PLACES, install=_install, uninstall=_uninstall)


def dispatching(hooks: Hooks) -> contextlib.AbstractContextManager[None]:
    """Run the block with ``hooks`` answering for DSPy in this context (and the threads it starts)."""
    return _SWAP.dispatching(hooks)


@contextlib.contextmanager
def bootstrapping(factory: Callable[..., Any]) -> Iterator[None]:
    """Inside ``dispatching``: ``BootstrapFewShot(...)`` calls of this context go to ``factory``."""
    hooks = _SWAP.current()
    if hooks is None:
        raise RuntimeError("bootstrapping() needs an optimizer's hooks in the context (dispatching)")
    saved, hooks.bootstrap = hooks.bootstrap, factory
    try:
        yield
    finally:
        hooks.bootstrap = saved


def stock(name: str) -> Any:
    """DSPy's own object for ``name`` (one of the swapped globals), swapped in or not."""
    return _SWAP.stock(name)
