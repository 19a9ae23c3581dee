"""A sweep's ``sweep_report.html``: one self-contained page (inline CSS and SVG, no scripts) from its results.

It answers the questions a researcher asks before shipping an optimized instruction: how much the
gain moves with the seed (per group of seeds: mean, spread, interval, how often the gate said
promote, whether the seeds agree on the instruction), whether it differs between the middle and
high subsets, what each cell found, and what it all cost. Instructions are LLM output: every piece
of text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The run report's building blocks, so both pages look and escape alike.
from optimizer.report import _STYLE, _esc, _intervals_svg, _num, _table


def _values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{_esc(k)} {_esc(v)}" for k, v in values.items()) or "(one setting)"


def _ci(pair: Sequence[Any] | None) -> str:
    if not pair or pair[0] is None:
        return "–"
    return f"[{float(pair[0]):+.2f}, {float(pair[1]):+.2f}]"


def _score_ci(pair: Sequence[Any] | None) -> str:
    if not pair or pair[0] is None:
        return ""
    return f' <span class="muted">[{float(pair[0]):.1f}, {float(pair[1]):.1f}]</span>'


def _spread(block: Mapping[str, Any]) -> str:
    if block.get("mean") is None:
        return "–"
    sd = f" ± {block['sd']:.2f}" if block.get("sd") is not None else ""
    return f"{block['mean']:+.2f}{sd}"


def _groups_section(results: Mapping[str, Any]) -> str:
    groups = results.get("groups") or []
    if not groups:
        return "<p class=muted>No cells.</p>"
    rows, forest = [], []
    for g in groups:
        imp = g.get("test_improvement") or {}
        rate = g.get("promote_rate")
        promote = (
            f"{g['promoted']}/{g['gated']}" + (f" ({100 * rate:.0f}%)" if rate is not None else "")
            if g.get("gated")
            else "–"
        )
        winners = g.get("winners") or {}
        same = (
            "yes, all seeds"
            if winners.get("same")
            else f"no: {winners.get('distinct', 0)} different"
            if winners.get("distinct", 0) > 1
            else "–"
        )
        rows.append(
            [
                _values(g.get("values") or {}),
                f"{g.get('finished', 0)}/{len(g.get('cells') or [])}",
                _spread(imp),
                _ci(imp.get("ci95")),
                _spread(g.get("test_optimized") or {}).lstrip("+"),
                promote,
                same,
            ]
        )
        if imp.get("ci95"):
            label = " · ".join(str(v) for v in (g.get("values") or {}).values()) or "all cells"
            forest.append((label, {"low": imp["ci95"][0], "high": imp["ci95"][1], "mean_diff": imp["mean"]}))
    table = _table(
        [
            "group",
            "seeds done",
            "test improvement, mean ± sd",
            "95% interval over seeds",
            "test score (optimized)",
            "gate: promote",
            "same winning instruction",
        ],
        rows,
    )
    note = (
        '<p class="muted legend">The interval over seeds is a Student t interval of the mean improvement: '
        "where the average over many seeds likely lies. A single seed's figure scatters with the spread (sd).</p>"
    )
    return table + note + _intervals_svg(forest)


def _verdict(ci95: Any, compared: str) -> str:
    """What a Welch interval of a difference between ``compared`` says, as a sentence (none without one)."""
    if ci95 and (ci95[0] > 0 or ci95[1] < 0):
        return f" The {compared} differ beyond what the seeds' spread explains."
    if ci95:
        return f" The interval includes 0: these seeds cannot tell the {compared} apart."
    return ""


def _comparison(comp: Mapping[str, Any], table: str, sentence: str) -> str:
    """One comparison: the values it holds fixed as a heading, its table, and the sentence below."""
    heading = f"<h3>{_values(comp['values'])}</h3>" if comp.get("values") else ""
    return f"{heading}{table}<p>{_esc(sentence)}</p>"


def _comparison_section(results: Mapping[str, Any]) -> str:
    comparisons = results.get("subset_comparison") or []
    if not comparisons:
        return "<p class=muted>The sweep did not run both the middle and the high subset with the same settings.</p>"
    parts = []
    for comp in comparisons:
        middle, high = comp["middle"], comp["high"]
        diff = comp["improvement_high_minus_middle"]
        opt = comp["optimized_high_minus_middle"]
        rows = [
            [
                "middle (helpfulness 2–3)",
                _spread(middle["test_improvement"]),
                _ci(middle["test_improvement"].get("ci95")),
                _num(middle["test_baseline"].get("mean")),
                _num(middle["test_optimized"].get("mean")),
            ],
            [
                "high (helpfulness 4)",
                _spread(high["test_improvement"]),
                _ci(high["test_improvement"].get("ci95")),
                _num(high["test_baseline"].get("mean")),
                _num(high["test_optimized"].get("mean")),
            ],
        ]
        table = _table(
            ["subset", "test improvement, mean ± sd", "95% interval over seeds", "baseline", "optimized"], rows
        )
        sentence = "–"
        if diff.get("difference") is not None:
            sentence = (
                f"High minus middle: improvement {diff['difference']:+.2f} points, 95% Welch interval "
                f"{_ci(diff.get('ci95'))}; optimized test score {_num(opt.get('difference'), '+.2f')} points, "
                f"{_ci(opt.get('ci95'))} (seeds: {diff['n'][0]} middle, {diff['n'][1]} high)."
            )
            sentence += _verdict(diff.get("ci95"), "subsets' improvements")
        parts.append(_comparison(comp, table, sentence))
    return "".join(parts)


def _optimizers_section(results: Mapping[str, Any]) -> str:
    """MIPROv2 against GEPA over seeds: their test improvements, the Welch interval of the difference, and the cost."""
    comparisons = results.get("optimizer_comparison") or []
    if not comparisons:
        return ""
    parts = []
    for comp in comparisons:
        rows = []
        for name, label in (("mipro", "MIPROv2"), ("gepa", "GEPA")):
            side = comp[name]
            rows.append(
                [
                    label,
                    _spread(side["test_improvement"]),
                    _ci(side["test_improvement"].get("ci95")),
                    _num(side["test_optimized"].get("mean")),
                    _num(side["calls"].get("mean"), ".0f"),
                    _num(side["live_calls"].get("mean"), ".0f"),
                    _num(side["tokens"].get("mean"), ".0f"),
                    _num(side["cost_usd"].get("mean"), ".4f"),
                    _num(side["wall_s"].get("mean"), ".1f"),
                ]
            )
        table = _table(
            [
                "optimizer",
                "test improvement, mean ± sd",
                "95% interval over seeds",
                "optimized test",
                "calls per cell",
                "live calls",
                "tokens (live)",
                "$ (live)",
                "wall s",
            ],
            rows,
        )
        diff = comp["improvement_gepa_minus_mipro"]
        sentence = "–"
        if diff.get("difference") is not None:
            sentence = (
                f"GEPA minus MIPROv2: test improvement {diff['difference']:+.2f} points, 95% Welch interval "
                f"{_ci(diff.get('ci95'))} (seeds: {diff['n'][0]} MIPROv2, {diff['n'][1]} GEPA)."
            )
            sentence += _verdict(diff.get("ci95"), "optimizers")
        parts.append(_comparison(comp, table, sentence))
    note = (
        '<p class="legend muted">Per cell, mean over seeds. Calls: every request the cell made, live or answered '
        "from the cache (cells on one gateway answer each other's identical requests, e.g. the same baseline, "
        "so live calls, tokens and dollars fall to whichever ran first); wall time of cells run at once "
        "includes their sharing of the gateway.</p>"
    )
    return f'<section id="optimizers"><h2>MIPROv2 versus GEPA</h2>{"".join(parts)}{note}</section>'


def _cells_section(results: Mapping[str, Any]) -> str:
    rows, forest = [], []
    for cell in results.get("cells") or []:
        dev, test, cost = cell.get("dev") or {}, cell.get("test") or {}, cell.get("cost") or {}
        status = cell.get("status", "?")
        if status == "finished":
            link = f'<a href="cells/{_esc(cell["name"])}/report.html">{_esc(cell["name"])}</a>'
        else:
            link = _esc(cell["name"])
            if cell.get("error"):
                status += f": {cell['error']}"
        dollars = _num(cost.get("cost_usd"), ".4f") + ("" if cost.get("cost_known", True) else "+?")
        rows.append(
            [
                link,
                _esc(status),
                (
                    f"{_num(dev.get('baseline'))}{_score_ci(dev.get('baseline_ci95'))} → "
                    f"{_num(dev.get('optimized'))}{_score_ci(dev.get('optimized_ci95'))}"
                ),
                (
                    f"{_num(test.get('baseline'))}{_score_ci(test.get('baseline_ci95'))} → "
                    f"{_num(test.get('optimized'))}{_score_ci(test.get('optimized_ci95'))}"
                ),
                f"{_num(test.get('improvement'), '+.2f')} {_ci(test.get('improvement_ci95'))}",
                _esc(test.get("gate") or "–"),
                dollars if cost else "–",
                f"{cost.get('live_calls', '–')} / {cost.get('cached_calls', '–')}" if cost else "–",
            ]
        )
        ci = test.get("improvement_ci95")
        if ci and ci[0] is not None:
            # The chart's labels are short: the cell's values alone (its name is in the table above).
            label = " · ".join(str(v) for v in (cell.get("values") or {}).values()) or cell["name"]
            forest.append((label, {"low": ci[0], "high": ci[1], "mean_diff": test.get("improvement")}))
    table = _table(
        [
            "cell",
            "status",
            "dev: baseline → optimized",
            "test: baseline → optimized",
            "test change [95% CI]",
            "gate",
            "cost $",
            "live / cached calls",
        ],
        rows,
        numeric_from=6,
    )
    return (
        table
        + '<p class="muted legend">Scores with their 95% bootstrap intervals; the change\'s interval is paired.</p>'
        + _intervals_svg(forest)
    )


def _winners_section(results: Mapping[str, Any]) -> str:
    parts = []
    for g in results.get("groups") or []:
        ranked = (g.get("winners") or {}).get("ranked") or []
        if not ranked:
            continue
        items = "".join(
            f'<li><span class="instruction">{_esc(w["instruction"])}</span> '
            f'<span class="muted">({len(w["cells"])}: {_esc(", ".join(w["cells"]))})</span></li>'
            for w in ranked
        )
        parts.append(f"<h3>{_values(g.get('values') or {})}</h3><ol>{items}</ol>")
    return "".join(parts) or "<p class=muted>No finished cell.</p>"


def _cost_section(results: Mapping[str, Any]) -> str:
    total = (results.get("cost") or {}).get("total") or {}
    if not total:
        return "<p class=muted>No ledger yet.</p>"
    dollars = f"${total.get('cost_usd', 0):.4f}" + (
        "" if total.get("cost_known", True) else " + calls of unknown price"
    )
    return (
        f"<p>Total over the cells: {dollars} for {total.get('live_calls', 0)} live calls "
        f"({total.get('prompt_tokens', 0)} prompt and {total.get('completion_tokens', 0)} completion tokens); "
        f"{total.get('cached_calls', 0)} answers came from the cache or from another cell's identical call "
        f"(${total.get('saved_usd', 0):.4f} not spent again).</p>"
    )


def render_sweep_report(results: Mapping[str, Any]) -> str:
    """The report page as one HTML string (pure)."""
    sweep = results.get("sweep") or {}
    cells = results.get("cells") or []
    simulated = any(c.get("backend") == "simulator" for c in cells)
    banner = (
        '<div class="banner"><b>Simulated results.</b> Answers came from the embedded LLM simulator, not a real '
        "model: the numbers show the optimizer and the statistics working, not model quality.</div>"
        if simulated
        else ""
    )
    status = ", ".join(f"{n} {s}" for s, n in sorted((sweep.get("status") or {}).items()))
    axes = "; ".join(f"{_esc(k)}: {_esc(', '.join(map(str, v)))}" for k, v in (sweep.get("axes") or {}).items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sweep report{" (simulated results)" if simulated else ""}</title><style>{_STYLE}
h3{{font-size:16px;margin:18px 0 4px}}</style></head>
<body>
<h1>Sweep report{" (simulated results)" if simulated else ""}</h1>
<p class="muted">{sweep.get("cells", len(cells))} cells ({_esc(status)}); axes: {axes or "–"}</p>
{banner}
<section id="groups"><h2>Across seeds: test improvement per group</h2>{_groups_section(results)}</section>
<section id="subsets"><h2>Middle versus high subset</h2>{_comparison_section(results)}</section>
{_optimizers_section(results)}
<section id="cells"><h2>Every cell</h2>{_cells_section(results)}</section>
<section id="winners"><h2>Winning instructions</h2>{_winners_section(results)}</section>
<section id="cost"><h2>Cost</h2>{_cost_section(results)}</section>
</body></html>
"""
