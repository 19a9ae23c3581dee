"""report.html from a hand-made run directory: structure, escaping, no network references, rendering."""

from __future__ import annotations

import html
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evaluation.metric import DEFAULT_WEIGHTS
from evaluation.signatures import ATTRIBUTES, BASELINE_INSTRUCTION
from optimizer.report import ReportError, render_report, word_diff, write_report

HOSTILE = (
    'Answer briefly. <script>alert("pwned")</script> & ignore <img src="https://evil.example/x.png"> '
    "then cite <a href='http://evil.example'>sources</a>."
)
PHASES = ("baseline_eval", "bootstrap", "propose", "search", "final_eval", "test_eval")


def example(index: int, scores: dict[str, int] | None, failure: str | None = None) -> dict:
    return {
        "index": index,
        "prompt": f"question {index}",
        "response": None if failure else f"answer {index}",
        "scores": scores,
        "justifications": dict.fromkeys(ATTRIBUTES, "fine") if scores else None,
        "composite": DEFAULT_WEIGHTS.composite(scores) if scores else None,
        "failure": failure,
    }


def fake_run(run_dir: Path, *, backend: str = "simulator", with_ci: bool = False) -> Path:
    """A small run directory shaped like the one optimizer/run.py writes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    base_scores = [
        {"helpfulness": 2, "correctness": 3, "coherence": 3, "complexity": 2, "verbosity": 3 - i % 2} for i in range(24)
    ]
    opt_scores = [dict(s, helpfulness=3 if i % 4 else 2, verbosity=2) for i, s in enumerate(base_scores)]
    evaluations = {
        "baseline_test": [example(i, s) for i, s in enumerate(base_scores)],
        "optimized_test": [
            example(i, s) if i != 5 else example(i, None, "judge: unparsable") for i, s in enumerate(opt_scores)
        ],
        "baseline_dev": [example(i, s) for i, s in enumerate(base_scores[:8])],
        "optimized_dev": [example(i, s) for i, s in enumerate(opt_scores[:8])],
    }
    per_attribute = {a: {"baseline": 2.5, "optimized": 2.75} for a in ATTRIBUTES}
    test = {
        "baseline": 80.0,
        "optimized": 86.5,
        "improvement": 6.5,
        "per_attribute": per_attribute,
        "failed": {"baseline": 0, "optimized": 1},
        "examples": 24,
    }
    if with_ci:
        test["ci95"] = {
            "improvement": {
                "mean_diff": 12.34,
                "low": 9.87,
                "high": 14.56,
                "n_pairs": 23,
                "dropped": 1,
                "resamples": 2000,
                "confidence": 0.95,
                "baseline": 80.0,
                "optimized": 92.34,
            },
            "per_attribute": {
                a: {
                    "mean_diff": 1.0,
                    "low": -0.5,
                    "high": 2.5,
                    "n_pairs": 23,
                    "dropped": 1,
                    "resamples": 2000,
                    "confidence": 0.95,
                }
                for a in ATTRIBUTES
            },
        }
        test["gate"] = {
            "verdict": "promote",
            "reasons": ["recorded reason: lower bound +9.87 pp clears +0.00 pp"],
            "policy": {"min_improvement_pp": 0.0},
        }
    results = {
        "backend": backend,
        "baseline_score": 80.0,
        "optimized_score": 87.5,
        "improvement": 7.5,
        "baseline_instruction": BASELINE_INSTRUCTION,
        "original_signature": {"instructions": BASELINE_INSTRUCTION, "fields": ["prompt", "response"]},
        "optimized_signature": {"instructions": HOSTILE, "fields": ["prompt", "response"]},
        "candidates": [BASELINE_INSTRUCTION, HOSTILE, "Be thorough & precise."],
        "trials": [
            {"trial": 1, "instruction_index": 0, "score": 80.0, "full_eval": True},
            {"trial": 2, "instruction_index": 2, "score": 78.5, "full_eval": True},
            {"trial": 3, "instruction_index": 1, "score": 87.5, "full_eval": True},
            {"trial": 4, "instruction_index": 2, "score": 83.0, "full_eval": False},
        ],
        "dev": {"baseline": 80.0, "optimized": 87.5, "improvement": 7.5, "per_attribute": per_attribute, "examples": 8},
        "test": test,
        "models": {"task": "openai/gpt-4o", "judge": "openai/gpt-4o", "prompt": "openai/gpt-4o"},
        "seed": 42,
        "dataset_fingerprint": {"source": "file data.jsonl (jsonl)", "input_sha256": "0" * 64},
    }
    ledger = {
        "phases": {
            name: {
                "live_calls": 10 + i,
                "cached_calls": i,
                "prompt_tokens": 1000,
                "completion_tokens": 100,
                "cost_usd": 0.01,
                "saved_usd": 0.0,
                "retries": 0,
                "errors": 0,
                "wall_s": 1.0,
                "cost_known": True,
            }
            for i, name in enumerate(PHASES)
        },
        "total": {
            "live_calls": 75,
            "cached_calls": 15,
            "prompt_tokens": 6000,
            "completion_tokens": 600,
            "cost_usd": 0.06,
            "saved_usd": 0.0,
            "retries": 0,
            "errors": 0,
            "wall_s": 6.0,
            "cost_known": True,
        },
    }
    for name, data in (
        ("optimization_results.json", results),
        ("evaluations.json", evaluations),
        ("ledger.json", ledger),
    ):
        (run_dir / name).write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    return run_dir


class PageParser(HTMLParser):
    """Collects tags, attributes, the text of the whole page and the text inside the diff section."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.section: str | None = None
        self.sections: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, name, value or "") for name, value in attrs)
        if tag == "section":
            self.section = dict(attrs).get("id")
            self.sections[self.section or ""] = []
        elif self.section:
            self.sections[self.section].append(tag)

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


def test_report_structure_escaping_and_no_network(tmp_path):
    run_dir = fake_run(tmp_path / "run")
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    assert not list(run_dir.glob(".*.tmp"))
    page = path.read_text(encoding="utf-8")
    parsed = parse(page)
    text = "".join(parsed.text)

    assert page.startswith("<!DOCTYPE html>")
    assert parsed.tags.count("svg") >= 2  # the search chart and the interval chart
    assert parsed.sections.keys() >= {"summary", "search", "candidates", "intervals", "cost", "diff"}
    # Nothing to fetch: no scripts, external styles, images or frames, and no http(s) src/href at all.
    assert not {"script", "link", "img", "iframe", "a"} & set(parsed.tags)
    for _, name, value in parsed.attrs:
        if name in ("src", "href"):
            assert not value.lower().startswith(("http://", "https://", "//")), value
    # The LLM's instruction is shown as text, escaped, never as markup.
    assert html.escape(HOSTILE, quote=True) in page
    assert HOSTILE in text
    assert "<script>" not in page
    for phase in PHASES:
        assert phase in text
    assert "ins" in parsed.sections["diff"] and "del" in parsed.sections["diff"]
    assert "Simulated results" in text


def test_report_recomputes_intervals_from_evaluations_when_the_run_has_none(tmp_path):
    page = write_report(fake_run(tmp_path / "run")).read_text(encoding="utf-8")
    text = "".join(parse(page).text)
    assert "recomputed from evaluations.json" in text
    assert "23 examples (1 left out: the judge failed in one program or both" in text
    assert "Release gate:" in text


def test_report_uses_the_runs_own_intervals_when_present(tmp_path):
    page = write_report(fake_run(tmp_path / "run", with_ci=True)).read_text(encoding="utf-8")
    text = "".join(parse(page).text)
    assert "as recorded by the run" in text
    assert "+12.34" in text and "[+9.87, +14.56]" in text
    assert "recorded reason: lower bound" in text


def test_a_live_run_is_not_labelled_simulated(tmp_path):
    page = write_report(fake_run(tmp_path / "run", backend="live")).read_text(encoding="utf-8")
    assert "Simulated results" not in page and "simulated results" not in page


def test_missing_optional_files_still_give_a_report(tmp_path):
    run_dir = fake_run(tmp_path / "run")
    (run_dir / "ledger.json").unlink()
    (run_dir / "evaluations.json").unlink()
    text = "".join(parse(write_report(run_dir).read_text(encoding="utf-8")).text)
    assert "No ledger.json" in text and "intervals are not available" in text


def test_missing_or_broken_results_are_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="did not finish"):
        write_report(tmp_path)
    (tmp_path / "optimization_results.json").write_text("{not json")
    with pytest.raises(ReportError, match="cannot read"):
        write_report(tmp_path)


def test_word_diff_marks_changed_words_and_escapes_them():
    out = word_diff("Answer the question clearly.", "Answer the <b>question</b> clearly.")
    assert out == "Answer the <del>question</del> <ins>&lt;b&gt;question&lt;/b&gt;</ins> clearly."
    assert word_diff("same words", "same words") == "same words"
    assert word_diff("Hello.", "Hello. Be brief.") == "Hello. <ins>Be brief.</ins>"
    assert word_diff("Be kind.\nBe brief.", "Be brief.") == "<del>Be kind.</del> Be brief."
    # Whitespace alone is not a change.
    assert "<ins>" not in word_diff("one  two\nthree", "one two three")


def test_same_winner_as_baseline_says_so():
    results = json.loads(
        json.dumps({"backend": "live", "baseline_instruction": "x", "optimized_signature": {"instructions": "x"}})
    )
    page = render_report(results, None, None)
    assert "the search found nothing better" in page


def test_report_renders_in_headless_chromium(tmp_path, chromium):
    path = write_report(fake_run(tmp_path / "run"))
    png = tmp_path / "report.png"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1100,2400",
            f"--screenshot={png}",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank page of this size compresses to a few kilobytes
