"""GEPA's search in a run's ``report.html``: its candidates as a lineage chart and a table.

Each candidate is a dot at the metric calls GEPA had spent when it found it (x) and its dev score
(y), joined to its parent(s) by a line; the winner is ringed. The table lists every candidate with
its parents, dev score, the dev examples on which it is on GEPA's Pareto front (no other candidate
scores higher there) and its instruction. Everything shown is HTML-escaped: instructions are LLM output.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def lineage_svg(rows: Sequence[Mapping[str, Any]], best: int | None) -> str:
    """Candidates by discovery (metric calls) and dev score, each joined to its parents."""
    points = {
        int(r["index"]): (float(r.get("discovered_after_metric_calls") or 0), float(r["dev_score"]))
        for r in rows
        if isinstance(r.get("dev_score"), (int, float))
    }
    if not points:
        return '<p class="muted">GEPA recorded no candidates.</p>'
    width, height, left, right, top, bottom = 640, 260, 48, 16, 14, 36
    xs = [x for x, _ in points.values()]
    ys = [y for _, y in points.values()]
    pad = max(1.0, (max(ys) - min(ys)) * 0.15)
    y_low, y_high = max(0.0, min(ys) - pad), min(100.0, max(ys) + pad)
    x_low, x_high = min(xs), max(xs)
    inset = 16

    def sx(x: float) -> float:
        return left + inset + (x - x_low) / ((x_high - x_low) or 1) * (width - left - right - 2 * inset)

    def sy(y: float) -> float:
        return top + (y_high - y) / ((y_high - y_low) or 1) * (height - top - bottom)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="GEPA candidates and lineage">']
    for tick in _round_ticks(y_low, y_high):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text class="axis" x="{(left + width - right) / 2:.0f}" y="{height - 4}" text-anchor="middle">'
        "metric calls spent when found</text>"
    )
    for r in rows:
        child = points.get(int(r["index"]))
        for parent in r.get("parents") or []:
            start = points.get(int(parent))
            if child is not None and start is not None:
                parts.append(
                    f'<line x1="{sx(start[0]):.1f}" y1="{sy(start[1]):.1f}" x2="{sx(child[0]):.1f}" '
                    f'y2="{sy(child[1]):.1f}" stroke="#8c959f" stroke-width="1.5"/>'
                )
    for r in rows:
        index = int(r["index"])
        if index not in points:
            continue
        x, y = points[index]
        label = (
            f"candidate {index}: {y:.2f} on dev, Pareto-best on {r.get('pareto_examples', 0)} examples, "
            f"parents {r.get('parents') or '–'}"
        )
        ring = ' stroke="#1f2328" stroke-width="3"' if index == best else ""
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="6" fill="#4e79a7"{ring}>'
            f"<title>{_esc(label)}</title></circle>"
            f'<text class="axis" x="{sx(x) + 8:.1f}" y="{sy(y) - 6:.1f}">{index}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _round_ticks(low: float, high: float) -> list[float]:
    step = max(1, round((high - low) / 5))
    return [float(v) for v in range(int(low) + 1, int(high) + 1) if v % step == 0]


def search_section(gepa: Mapping[str, Any]) -> str:
    """The report's search and candidates sections for a GEPA run."""
    rows = [r for r in gepa.get("candidates") or [] if isinstance(r, Mapping)]
    best = gepa.get("best_index")
    table_rows = "".join(
        "<tr>"
        f"<td>{_esc(r.get('index'))}{' (winner)' if r.get('index') == best else ''}</td>"
        f"<td>{_esc(', '.join(str(p) for p in r.get('parents') or []) or 'seed')}</td>"
        f"<td class=num>{_esc(r.get('dev_score'))}</td>"
        f"<td class=num>{_esc(r.get('pareto_examples'))}</td>"
        f"<td class=num>{_esc(r.get('discovered_after_metric_calls'))}</td>"
        f'<td class="instruction">{_esc(r.get("instruction", ""))}</td>'
        "</tr>"
        for r in rows
    )
    spent = (
        f"{_esc(gepa.get('total_metric_calls'))} metric calls, {_esc(gepa.get('full_dev_evaluations'))} full dev "
        f"evaluations, {_esc(gepa.get('reflections'))} reflections; "
        f"{_esc(gepa.get('feedback_calls_answered_without_calls'))} feedback calls answered from the evaluation "
        f"({_esc(gepa.get('judge_calls_saved'))} judge calls not made)"
    )
    return (
        '<section id="search"><h2>Search: GEPA\'s candidates and their lineage</h2>'
        f"{lineage_svg(rows, best if isinstance(best, int) else None)}"
        '<p class="legend muted">Dots: one candidate each (ringed: the winner), at the metric calls spent when '
        f"GEPA found it and its dev score; lines join it to its parent(s). {spent}.</p></section>"
        '<section id="candidates"><h2>Candidate instructions</h2><table><thead><tr><th>#</th><th>parents</th>'
        "<th class=num>dev score</th><th class=num>Pareto-best on</th><th class=num>found after</th>"
        f"<th>instruction</th></tr></thead><tbody>{table_rows}</tbody></table>"
        '<p class="legend muted">Pareto-best on: the dev examples where no other candidate scores higher (GEPA '
        "draws parents from them). Found after: metric calls (an example evaluated by a candidate) spent.</p>"
        "</section>"
    )
