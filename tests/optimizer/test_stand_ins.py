"""DSPy's module globals swapped once per process, each call answered by the optimizer of its context."""

from __future__ import annotations

import contextvars
import sys
import threading

import dspy
from dspy.teleprompt import bootstrap as bootstrap_module
from dspy.teleprompt import mipro_optimizer_v2
from dspy.teleprompt import utils as teleprompt_utils

from optimizer.mipro import stand_ins

STOCK = {
    "Evaluate": mipro_optimizer_v2.Evaluate,
    "eval_candidate_program": mipro_optimizer_v2.eval_candidate_program,
    "GroundedProposer": mipro_optimizer_v2.GroundedProposer,
    "_import_optuna": mipro_optimizer_v2._import_optuna,
    "BootstrapFewShot": teleprompt_utils.BootstrapFewShot,
    "tqdm": bootstrap_module.tqdm,
}


def hooks(name: str, seen: list[tuple[str, str]]) -> stand_ins.Hooks:
    def record(what: str):  # a stand-in that says whose it is
        def answer(*args, **kwargs):
            seen.append((name, what))
            return name

        return answer

    return stand_ins.Hooks(
        evaluate=record("evaluate"),
        eval_candidate_program=record("eval_candidate_program"),
        proposer=record("proposer"),
        import_optuna=record("optuna"),
        stop_reason=lambda: None,
    )


def test_each_context_reaches_its_own_optimizer_while_others_come_and_go():
    seen: list[tuple[str, str]] = []
    a_in, b_in, b_out = threading.Event(), threading.Event(), threading.Event()
    answers: dict[str, list[str]] = {"a": [], "b": []}

    def optimizer_a() -> None:
        with stand_ins.dispatching(hooks("a", seen)):
            a_in.set()
            b_in.wait(5)
            answers["a"].append(mipro_optimizer_v2.Evaluate(devset=[]))  # B is in as well
            b_out.wait(5)
            # B has left: had B restored what it found on entry (A's stand-ins saved as "DSPy's"),
            # A's calls would now reach DSPy itself or B's leftovers.
            answers["a"].append(mipro_optimizer_v2.eval_candidate_program(1, [], None, None))
            answers["a"].append(mipro_optimizer_v2._import_optuna())

    def optimizer_b() -> None:
        a_in.wait(5)
        with stand_ins.dispatching(hooks("b", seen)):
            b_in.set()
            answers["b"].append(mipro_optimizer_v2.GroundedProposer())
            # A thread started with a copy of B's context (as run_concurrently does) is still B's.
            context = contextvars.copy_context()
            worker = threading.Thread(
                target=context.run, args=(lambda: answers["b"].append(mipro_optimizer_v2.Evaluate()),)
            )
            worker.start()
            worker.join()
        b_out.set()

    threads = [threading.Thread(target=optimizer_a), threading.Thread(target=optimizer_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {"a": ["a", "a", "a"], "b": ["b", "b"]}
    assert sorted(seen) == sorted(
        [("a", "evaluate"), ("a", "eval_candidate_program"), ("a", "optuna"), ("b", "proposer"), ("b", "evaluate")]
    )
    # The last one out put DSPy's own objects back.
    assert mipro_optimizer_v2.Evaluate is STOCK["Evaluate"]
    assert teleprompt_utils.BootstrapFewShot is STOCK["BootstrapFewShot"]
    assert bootstrap_module.tqdm is STOCK["tqdm"]


def test_without_an_optimizer_in_the_context_dspy_answers():
    entered, leave = threading.Event(), threading.Event()

    def optimizer() -> None:
        with stand_ins.dispatching(hooks("a", [])):
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=optimizer)
    thread.start()
    entered.wait(5)
    try:
        assert mipro_optimizer_v2.Evaluate is not STOCK["Evaluate"]  # swapped in...
        evaluate = mipro_optimizer_v2.Evaluate(devset=[dspy.Example(prompt="p").with_inputs("prompt")])
        assert isinstance(evaluate, STOCK["Evaluate"])  # ...but this thread has no optimizer: DSPy's own
        assert list(bootstrap_module.tqdm.tqdm([1, 2], disable=True)) == [1, 2]
    finally:
        leave.set()
        thread.join()


def test_bootstrapping_routes_only_its_own_contexts_demo_sets():
    made: list[str] = []
    with stand_ins.dispatching(hooks("a", [])):
        with stand_ins.bootstrapping(lambda **options: made.append("deferred") or "deferred"):
            assert teleprompt_utils.BootstrapFewShot(max_bootstrapped_demos=1) == "deferred"
        stock = teleprompt_utils.BootstrapFewShot(max_bootstrapped_demos=1)
        assert isinstance(stock, STOCK["BootstrapFewShot"])  # outside the bootstrap step: DSPy's class
    assert made == ["deferred"]


def test_what_optimizers_print_is_dropped_and_everyone_elses_goes_through(capsys):
    entered, printed = threading.Event(), threading.Event()

    def optimizer() -> None:
        with stand_ins.dispatching(hooks("a", [])):
            print("from the optimizer")
            entered.set()
            printed.wait(5)

    thread = threading.Thread(target=optimizer)
    thread.start()
    entered.wait(5)
    print("from elsewhere")
    sys.stdout.flush()
    printed.set()
    thread.join()
    out = capsys.readouterr().out
    assert "from elsewhere" in out and "from the optimizer" not in out
