"""A run's ``report.html``: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

It reads the run directory's ``optimization_results.json`` (required), ``evaluations.json`` and
``ledger.json`` (used when present) and shows: the search (trial scores and the best-so-far curve),
the candidate instructions with their scores, baseline versus optimized per attribute with
bootstrap intervals and the release gate, calls and cost per phase, and a word-level diff of the
baseline and winning instructions. Every piece of text is HTML-escaped: instructions are LLM output.

Over 500 lines on purpose: one page's numbers, charts and sections, used by this page alone (the sweep
report borrows its style and charts).
"""

from __future__ import annotations

import difflib
import hashlib
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.data import SHIPPED_SAMPLE
from evaluation.signatures import ATTRIBUTES
from evaluation.stats import test_report
from optimizer.artifacts import write_text

REPORT_NAME = "report.html"
PHASE_ORDER = ("baseline_eval", "bootstrap", "propose", "search", "final_eval", "test_eval")
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


class ReportError(Exception):
    """The run directory cannot be reported on (one line for the user)."""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _read_json(path: Path, *, required: bool) -> Any:
    if not path.is_file():
        if required:
            raise ReportError(f"no {path.name} in {path.parent}: the run did not finish")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from None


def write_report(run_dir: Path) -> Path:
    """Render ``run_dir/report.html`` from the run's JSON outputs, atomically; returns its path."""
    run_dir = Path(run_dir)
    results = _read_json(run_dir / "optimization_results.json", required=True)
    evaluations = _read_json(run_dir / "evaluations.json", required=False)
    ledger = _read_json(run_dir / "ledger.json", required=False)
    page = render_report(results, evaluations, ledger, title=run_dir.name)
    target = run_dir / REPORT_NAME
    write_text(target, page)
    return target


# -- numbers ------------------------------------------------------------------------------------------
def _num(value: Any, pattern: str = ".2f", missing: str = "–") -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return missing
    return format(value, pattern)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × a power of ten) inside [low, high]."""
    raw = ((high - low) or 1.0) / max(1, count - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


# -- charts -------------------------------------------------------------------------------------------
def _trials_svg(trials: Sequence[Mapping[str, Any]]) -> str:
    """Trial scores as dots (coloured by candidate) and the best full-evaluation score so far as a step line."""
    points = [
        (int(t.get("trial", i + 1)), float(t["score"]), t.get("instruction_index"), bool(t.get("full_eval", True)))
        for i, t in enumerate(trials)
        if isinstance(t.get("score"), (int, float))
    ]
    if not points:
        return '<p class="muted">No trial scores were recorded.</p>'
    width, height, left, right, top, bottom = 640, 260, 48, 16, 14, 36
    xs = [p[0] for p in points]
    scores = [p[1] for p in points]
    y_low, y_high = min(scores), max(scores)
    pad = max(1.0, (y_high - y_low) * 0.15)
    y_low, y_high = max(0.0, y_low - pad), min(100.0, y_high + pad)
    x_low, x_high = min(xs), max(xs)

    inset = 16  # keeps the first and last dots clear of the axis labels

    def sx(x: float) -> float:
        return left + inset + (x - x_low) / ((x_high - x_low) or 1) * (width - left - right - 2 * inset)

    def sy(y: float) -> float:
        return top + (y_high - y) / ((y_high - y_low) or 1) * (height - top - bottom)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Trial scores and best score so far">'
    ]
    for tick in _ticks(y_low, y_high, count=6):
        y = sy(tick)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    step = max(1, len(set(xs)) // 12)
    for x in sorted(set(xs))[::step]:
        parts.append(f'<text class="axis" x="{sx(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x}</text>')
    parts.append(
        f'<text class="axis" x="{(left + width - right) / 2:.0f}" y="{height - 4}" text-anchor="middle">trial</text>'
    )
    # Best so far counts full evaluations only: a minibatch score is not comparable with them.
    best: float | None = None
    path: list[str] = []
    for x, score, _, full in sorted(points, key=lambda p: p[0]):
        if not full:
            continue
        if best is None:
            path.append(f"M{sx(x):.1f},{sy(score):.1f}")
        elif score > best:
            path.append(f"H{sx(x):.1f}V{sy(score):.1f}")
        best = score if best is None else max(best, score)
    if path:
        path.append(f"H{sx(x_high):.1f}")
        parts.append(f'<path class="best" d="{"".join(path)}"/>')
    for x, score, index, full in points:
        colour = PALETTE[index % len(PALETTE)] if isinstance(index, int) else "#888888"
        label = (
            f"trial {x}: {score:.2f} (candidate {index if index is not None else '?'}"
            + ("" if full else ", minibatch")
            + ")"
        )
        fill = colour if full else "#ffffff"
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(score):.1f}" r="5" fill="{fill}" stroke="{colour}" '
            f'stroke-width="2"><title>{_esc(label)}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _intervals_svg(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """A forest plot: each row's interval of the change (percentage points) around a zero line."""
    usable = [(name, ci) for name, ci in rows if ci.get("low") is not None and ci.get("high") is not None]
    if not usable:
        return ""
    width, row_h, left, right, top = 640, 26, 110, 20, 10
    height = top + row_h * len(usable) + 28
    extent = (
        max(
            1.0, *(abs(float(ci[k])) for _, ci in usable for k in ("low", "high", "mean_diff") if ci.get(k) is not None)
        )
        * 1.1
    )

    def sx(v: float) -> float:
        return left + (v + extent) / (2 * extent) * (width - left - right)

    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="Confidence intervals of the change per attribute">'
        )
    ]
    for tick in _ticks(-extent, extent):
        parts.append(
            f'<line class="grid" x1="{sx(tick):.1f}" x2="{sx(tick):.1f}" y1="{top}" '
            f'y2="{height - 24}"/><text class="axis" x="{sx(tick):.1f}" y="{height - 8}" '
            f'text-anchor="middle">{tick:+g}</text>'
        )
    parts.append(f'<line class="zero" x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{top}" y2="{height - 24}"/>')
    for i, (name, ci) in enumerate(usable):
        y = top + row_h * i + row_h / 2
        low, high, mean = float(ci["low"]), float(ci["high"]), float(ci.get("mean_diff") or 0.0)
        kind = "gain" if low > 0 else "loss" if high < 0 else "flat"
        label = f"{name}: {mean:+.2f} pp [{low:+.2f}, {high:+.2f}]"
        parts.append(
            f'<text class="axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{_esc(name)}</text>'
            f'<g class="{kind}"><title>{_esc(label)}</title>'
            f'<line x1="{sx(low):.1f}" x2="{sx(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke-width="3"/>'
            f'<circle cx="{sx(mean):.1f}" cy="{y:.1f}" r="5"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


# -- sections -----------------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1) -> str:
    """A table of already-escaped cells; columns from ``numeric_from`` on are right-aligned."""
    head = "".join(f"<th{' class=num' if i >= numeric_from else ''}>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i >= numeric_from else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _failure_counts(value: Any) -> tuple[Any, Any]:
    """(candidate, judge) failures from a results entry; older runs recorded one undivided number."""
    if isinstance(value, Mapping):
        return value.get("candidate", "–"), value.get("judge", "–")
    return "–", value if value is not None else "–"


def _summary(results: Mapping[str, Any]) -> str:
    rows = []
    for split in ("dev", "test"):
        data = results.get(split)
        if isinstance(data, Mapping):
            failed = data.get("failed") or {}
            base_candidate, base_judge = _failure_counts(
                failed.get("baseline") if isinstance(failed, Mapping) else None
            )
            opt_candidate, opt_judge = _failure_counts(failed.get("optimized") if isinstance(failed, Mapping) else None)
            rows.append(
                [
                    split,
                    _num(data.get("baseline")),
                    _num(data.get("optimized")),
                    _num(data.get("improvement"), "+.2f"),
                    _esc(data.get("examples", "–")),
                    f"{_esc(base_candidate)} / {_esc(opt_candidate)}",
                    f"{_esc(base_judge)} / {_esc(opt_judge)}",
                ]
            )
    if not rows:
        return '<p class="muted">No split scores were recorded.</p>'
    legend = (
        '<p class="legend muted">Failures, baseline / optimized. <i>Candidate</i>: the program\'s own '
        "output could not be used (unparsable, refused or filtered) and counts as 0. <i>Judge</i>: the "
        "judge's answer could not be used after a retry; the example is left out (of both sides of a "
        "paired comparison).</p>"
    )
    headers = ["split", "baseline", "optimized", "change (pp)", "examples", "candidate failures", "judge failures"]
    return _table(headers, rows) + legend


def _instructions(results: Mapping[str, Any]) -> tuple[str, str]:
    """The baseline and the winning instruction of a run."""
    baseline = results.get("baseline_instruction") or (results.get("original_signature") or {}).get("instructions")
    winner = (results.get("optimized_signature") or {}).get("instructions")
    return str(baseline or ""), str(winner or "")


def _candidates(results: Mapping[str, Any]) -> str:
    candidates = [str(c) for c in results.get("candidates") or []]
    trials = results.get("trials") or []
    evaluations = {e.get("index"): e for e in results.get("candidate_evaluations") or [] if isinstance(e, Mapping)}
    baseline, winner = _instructions(results)
    if not candidates:
        return '<p class="muted">No candidate instructions were recorded.</p>'
    rows = []
    for index, text in enumerate(candidates):
        scores = [
            float(t["score"])
            for t in trials
            if t.get("instruction_index") == index and isinstance(t.get("score"), (int, float))
        ]
        tags = [label for label, hit in (("baseline", text == baseline), ("winner", text == winner)) if hit]
        swatch = f'<span class="swatch" style="background:{PALETTE[index % len(PALETTE)]}"></span>'
        evaluation = evaluations.get(index) or {}
        rows.append(
            [
                f"{swatch}{index}",
                f'<span class="instruction">{_esc(text)}</span>',
                _esc(", ".join(tags)),
                str(len(scores)),
                _num(max(scores) if scores else None),
                _num(sum(scores) / len(scores) if scores else None),
                _esc(_or_dash(evaluation.get("candidate_failures"))),
                _esc(_or_dash(evaluation.get("judge_failures"))),
            ]
        )
    headers = ["#", "instruction", "", "trials", "best", "mean", "candidate failures", "judge failures"]
    return _table(headers, rows, numeric_from=3)


def _or_dash(value: Any) -> Any:
    return "–" if value is None else value


def _interval_block(results: Mapping[str, Any], evaluations: Mapping[str, Any] | None) -> tuple[str, str]:
    """The CI block and where it came from: the run's own results, else recomputed from evaluations.json."""
    test = results.get("test")
    if isinstance(test, Mapping) and isinstance(test.get("ci95"), Mapping):
        block = {"ci95": test["ci95"], "gate": test.get("gate")}
        return "test", _render_intervals(block, results, "test", "as recorded by the run")
    if isinstance(evaluations, Mapping):
        seed = results.get("seed", 42)
        for split in ("test", "dev"):
            base, opt = evaluations.get(f"baseline_{split}"), evaluations.get(f"optimized_{split}")
            if isinstance(base, list) and isinstance(opt, list) and base:
                try:
                    block = test_report(base, opt, seed=int(seed))
                except (ValueError, TypeError, KeyError) as exc:
                    return split, f'<p class="muted">Intervals could not be computed: {_esc(exc)}</p>'
                note = "recomputed from evaluations.json"
                if split == "dev":
                    note += "; no test split, so this is the dev split the search selected on (optimistic)"
                return split, _render_intervals(block, results, split, note)
    return "", '<p class="muted">No per-example scores: intervals are not available.</p>'


def _render_intervals(block: Mapping[str, Any], results: Mapping[str, Any], split: str, note: str) -> str:
    ci = block.get("ci95") or {}
    overall = ci.get("improvement") or {}
    per_attribute = ci.get("per_attribute") or {}
    raw = (results.get(split) or {}).get("per_attribute") or {}
    level = f"{float(overall.get('confidence', 0.95)):.0%}"
    rows = [
        [
            "composite (0–100)",
            _num(overall.get("baseline")),
            _num(overall.get("optimized")),
            _num(overall.get("mean_diff"), "+.2f"),
            f"[{_num(overall.get('low'), '+.2f')}, {_num(overall.get('high'), '+.2f')}]",
            _status(overall),
        ]
    ]
    for attribute in ATTRIBUTES:
        stats = per_attribute.get(attribute) or {}
        means = raw.get(attribute) or {}
        rows.append(
            [
                _esc(attribute),
                _num(means.get("baseline")),
                _num(means.get("optimized")),
                _num(stats.get("mean_diff"), "+.2f"),
                f"[{_num(stats.get('low'), '+.2f')}, {_num(stats.get('high'), '+.2f')}]",
                _status(stats),
            ]
        )
    table = _table(["attribute", "baseline", "optimized", "change (pp)", f"{level} CI (pp)", ""], rows)
    chart = _intervals_svg([("composite", overall)] + [(a, per_attribute.get(a) or {}) for a in ATTRIBUTES])
    pairs = overall.get("n_pairs")
    dropped = overall.get("dropped")
    caption = (
        f"<p>Split: <b>{_esc(split)}</b> ({_esc(note)}). Paired percentile bootstrap over "
        f"{_esc(pairs if pairs is not None else '?')} examples ({_esc(dropped or 0)} left out: the judge "
        "failed in one program or both; a candidate failure counts as 0), "
        f"{_esc(overall.get('resamples', '?'))} resamples. Baseline/optimized columns: attributes are mean "
        "0–4 scores; changes are in points of the attribute's normalised 0–100 value (complexity and "
        "verbosity peak at 2).</p>"
    )
    gate = block.get("gate")
    gate_html = ""
    if isinstance(gate, Mapping):
        verdict = str(gate.get("verdict", "?"))
        reasons = "".join(f"<li>{_esc(r)}</li>" for r in gate.get("reasons") or [])
        policy = gate.get("policy") or {}
        policy_text = ", ".join(f"{_esc(k)} = {_esc(v)}" for k, v in policy.items())
        gate_html = (
            f'<div class="gate {_esc(verdict)}"><b>Release gate: {_esc(verdict)}</b>'
            f'<ul>{reasons}</ul><p class="muted">policy: {policy_text}</p></div>'
        )
    return caption + table + chart + gate_html


def _status(stats: Mapping[str, Any]) -> str:
    low, high = stats.get("low"), stats.get("high")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return ""
    if low > 0:
        return '<span class="gain">clear gain</span>'
    if high < 0:
        return '<span class="loss">clear loss</span>'
    return '<span class="muted">no clear change</span>'


def _ledger(ledger: Mapping[str, Any] | None) -> str:
    if not isinstance(ledger, Mapping) or not isinstance(ledger.get("phases"), Mapping):
        return '<p class="muted">No ledger.json: calls and cost are not available.</p>'

    def row(name: str, t: Mapping[str, Any]) -> list[str]:
        cost = _num(t.get("cost_usd"), ".4f") + ("" if t.get("cost_known", True) else " + unpriced")
        return [
            _esc(name),
            _esc(t.get("live_calls", 0)),
            _esc(t.get("cached_calls", 0)),
            _esc(t.get("prompt_tokens", 0)),
            _esc(t.get("completion_tokens", 0)),
            cost,
            _num(t.get("saved_usd"), ".4f"),
            _esc(t.get("retries", 0)),
            _esc(t.get("errors", 0)),
            _num(t.get("wall_s"), ".1f"),
        ]

    phases = ledger["phases"]
    # ledger.json is written with sorted keys; show the phases in the order a run goes through them.
    order = [p for p in PHASE_ORDER if p in phases] + sorted(p for p in phases if p not in PHASE_ORDER)
    rows = [row(name, phases[name]) for name in order if isinstance(phases[name], Mapping)]
    if isinstance(ledger.get("total"), Mapping):
        rows.append(["<b>total</b>", *row("total", ledger["total"])[1:]])
    return _table(
        [
            "phase",
            "live calls",
            "cached calls",
            "prompt tokens",
            "completion tokens",
            "cost $",
            "saved $",
            "retries",
            "errors",
            "wall s",
        ],
        rows,
    )


def word_diff(before: str, after: str) -> str:
    """HTML of a word-level diff: removed words in ``<del>``, added ones in ``<ins>``, all text escaped.

    Words are compared without their whitespace (so a reflowed line is not a change) and shown
    with it; each run of changed words keeps its leading space outside the tag.
    """
    a, b = re.findall(r"\s*\S+", before), re.findall(r"\s*\S+", after)

    def chunk(tokens: Sequence[str]) -> tuple[str, str]:
        text = "".join(tokens)
        body = text.lstrip()
        return _esc(text[: len(text) - len(body)]), _esc(body)

    matcher = difflib.SequenceMatcher(None, [t.strip() for t in a], [t.strip() for t in b], autojunk=False)
    out: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            text = "".join(b[j1:j2])
            # After a deletion at the very start, b's first word has no space before it.
            out.append((" " if out and not text[:1].isspace() else "") + _esc(text))
            continue
        if i2 > i1:
            lead, body = chunk(a[i1:i2])
            out.append(f"{lead}<del>{body}</del>")
        if j2 > j1:
            lead, body = chunk(b[j1:j2])
            out.append(f"{lead or (' ' if i2 > i1 else '')}<ins>{body}</ins>")
    return "".join(out)


def _diff(results: Mapping[str, Any]) -> str:
    baseline, winner = _instructions(results)
    note = (
        '<p class="muted">The winning instruction is the baseline: the search found nothing better.</p>'
        if baseline == winner
        else ""
    )
    return (
        f'{note}<p class="diff">{word_diff(baseline, winner)}</p>'
        '<p class="muted"><del>removed</del> <ins>added</ins></p>'
    )


def _is_shipped_sample(results: Mapping[str, Any]) -> bool:
    digest = (results.get("dataset_fingerprint") or {}).get("input_sha256")
    try:
        return bool(digest) and digest == hashlib.sha256(SHIPPED_SAMPLE.read_bytes()).hexdigest()
    except OSError:
        return False


_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:980px;
padding:24px;color:#1f2328;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:8px 0;width:100%}th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;
text-align:left;vertical-align:top}td.num,th.num{text-align:right}td.num{white-space:nowrap}
td:first-child{white-space:nowrap}table{font-size:14px}
.muted{color:#656d76}.banner{background:#fff4ce;border:2px solid #d4a72c;padding:10px 14px;margin:12px 0;
border-radius:6px}.chart{width:100%;max-width:760px;height:auto;margin:8px 0;display:block}.chart .grid{stroke:#e5e7eb}
.chart .zero{stroke:#1f2328;stroke-dasharray:4 3}.chart .axis{font-size:11px;fill:#656d76}
.chart .best{fill:none;stroke:#1f2328;stroke-width:2}.chart .gain{stroke:#1a7f37;fill:#1a7f37}
.chart .loss{stroke:#cf222e;fill:#cf222e}.chart .flat{stroke:#656d76;fill:#656d76}
span.gain{color:#1a7f37}span.loss{color:#cf222e}.swatch{display:inline-block;width:10px;height:10px;
border-radius:5px;margin-right:6px}.instruction{white-space:pre-wrap}
.diff{white-space:pre-wrap;background:#f6f8fa;padding:10px;border-radius:6px}
del{background:#ffebe9;color:#82071e}ins{background:#dafbe1;color:#116329;text-decoration:none}
.gate{padding:8px 14px;border-radius:6px;margin:12px 0}.gate.promote{background:#dafbe1}
.gate.hold{background:#fff8c5}.legend{font-size:13px}
"""


def render_report(
    results: Mapping[str, Any],
    evaluations: Mapping[str, Any] | None,
    ledger: Mapping[str, Any] | None,
    *,
    title: str = "run",
) -> str:
    """The report page as one HTML string (pure: no I/O beyond reading the shipped sample's hash)."""
    simulated = results.get("backend") == "simulator"
    banners = []
    if simulated:
        banners.append(
            '<div class="banner"><b>Simulated results.</b> Every answer in this run came from the '
            "embedded LLM simulator, not a real model: the numbers show the optimizer working, not "
            "model quality.</div>"
        )
    if _is_shipped_sample(results):
        banners.append(
            '<div class="banner"><b>Synthetic data.</b> The dataset is the shipped sample, whose '
            "labels come from a fixed rule, not from HelpSteer2's human raters.</div>"
        )
    models = results.get("models") or {}
    model_text = ", ".join(f"{_esc(role)}: {_esc(name)}" for role, name in models.items() if name)
    source = (results.get("dataset_fingerprint") or {}).get("source", "?")
    split, intervals = _interval_block(results, evaluations)
    heading = f"Intervals and release gate ({_esc(split)} split)" if split else "Intervals and release gate"
    page_title = f"Optimization report {title}" + (" (simulated results)" if simulated else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(page_title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{_esc(page_title)}</h1>
<p class="muted">backend: {_esc(results.get("backend", "?"))}; models: {model_text or "–"}; dataset: {_esc(source)};
subset: {_esc(results.get("subset", "middle"))}; seed: {_esc(results.get("seed", "?"))}</p>
{"".join(banners)}
<section id="summary"><h2>Scores (composite, 0–100)</h2>{_summary(results)}</section>
<section id="search"><h2>Search: trial scores and best so far</h2>{_trials_svg(results.get("trials") or [])}
<p class="legend muted">Dots: one trial each, coloured by candidate (hollow: minibatch score).
Line: best full-evaluation score so far.</p></section>
<section id="candidates"><h2>Candidate instructions</h2>{_candidates(results)}</section>
<section id="intervals"><h2>{heading}</h2>{intervals}</section>
<section id="cost"><h2>Calls and cost per phase</h2>{_ledger(ledger)}</section>
<section id="diff"><h2>Baseline → winning instruction (word diff)</h2>{_diff(results)}</section>
</body></html>
"""
