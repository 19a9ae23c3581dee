"""The benchmark's targets and its printed table, both computed from the results dict alone."""

from __future__ import annotations

from typing import Any

PHASES = ("baseline_eval", "bootstrap", "propose", "search", "final_eval", "test_eval")


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it was met (ratios within this one run)."""
    ours = report["ours"][str(report["headline_level"])]
    anchor = report["anchor"]
    replay = report["replay"]
    limited = report["ratelimit"]["limiter_on"]
    c = report["headline_level"]
    speedup = anchor["wall_s"] / ours["wall_s"]
    replay_ratio = replay["ours"]["wall_s"] / replay["anchor"]["wall_s"]
    peak = max(run["max_rss_mib"] for run in report["ours"].values())
    hits = (replay["ours"]["server"]["requests"], replay["anchor"]["server"]["requests"])
    rows = [
        (f"wall(anchor) / wall(ours, C={c:d})", round(speedup, 2), ">= 7.5", speedup >= 7.5),
        (
            f"efficiency at C={c:d} (bound / phases wall)",
            ours["efficiency"],
            ">= 0.90",
            (ours["efficiency"] or 0) >= 0.90,
        ),
        (
            "replay: wall(ours) / wall(stock DSPy)",
            round(replay_ratio, 3),
            "<= 1.0, both 0 server hits",
            replay_ratio <= 1.0 and hits == (0, 0),
        ),
        ("TPM achieved / limit (limiter on)", limited["share_of_limit"], ">= 0.90", limited["share_of_limit"] >= 0.90),
        ("429 share of requests (limiter on)", limited["share_429"], "<= 0.02", limited["share_429"] <= 0.02),
        ("peak RSS of our runs, MiB", round(peak, 1), "<= 1024", peak <= 1024),
    ]
    return [{"target": name, "measured": value, "goal": goal, "met": bool(met)} for name, value, goal, met in rows]


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    """The figures as plain-text tables."""
    w, sim = report["workload"], report["simulator"]
    anchor, runs = report["anchor"], report["ours"]
    levels = sorted(runs, key=int)
    lines = [
        (
            f"workload {w['name']}: train/dev/test {w['train_size']}/{w['dev_size']}/{w['test_size']}, "
            f"{w['num_candidates']} candidates, {w['num_trials']} trials, seed {w['seed']}; simulator latency "
            f"median {sim['median_latency_ms']:g} ms, sigma {sim['sigma']:g} (mean {sim['mean_latency_ms']:g} ms)"
        ),
        "",
        (
            f"{'run':<22}{'C':>4}{'server calls':>14}{'wall s':>9}{'phases s':>10}{'bound s':>9}{'effic.':>8}"
            f"{'speed-up':>10}{'peak MiB':>10}{'load':>7}"
        ),
        (
            f"{'anchor (stock DSPy)':<22}{'2 thr':>4}{anchor['server']['requests']:>14}{anchor['wall_s']:>9.1f}"
            f"{anchor['phases_wall_s']:>10.1f}{anchor['bound_s']:>9.1f}{_f(anchor['efficiency'], 2):>8}{'1.00x':>10}"
            f"{anchor['max_rss_mib']:>10.0f}{anchor['load_before']:>7.1f}"
        ),
    ]
    rows = [("ours", level, runs[level]) for level in levels]
    if "ours_embedded" in report:
        rows.append(("ours, embedded sim", str(report["headline_level"]), report["ours_embedded"]))
    for name, level, run in rows:
        lines.append(
            f"{name:<22}{level:>4}{run['server']['requests']:>14}{run['wall_s']:>9.1f}{run['phases_wall_s']:>10.1f}"
            f"{run['bound_s']:>9.1f}{_f(run['efficiency'], 2):>8}{anchor['wall_s'] / run['wall_s']:>9.2f}x"
            f"{run['max_rss_mib']:>10.0f}{run['load_before']:>7.1f}"
        )
    headline = runs[str(report["headline_level"])]
    lines.append(
        f"speed-up ceiling at C={report['headline_level']} with this phase structure (anchor bound / our "
        f"bound): {anchor['bound_s'] / headline['bound_s']:.2f}x"
    )
    head = report["headline_level"]
    lines += [
        "",
        "phase wall s"
        + "".join(f"{h:>10}" for h in ["anchor", *[f"C={lv}" for lv in levels]])
        + f"{'open at C=' + str(head):>16}",
    ]
    for phase in PHASES:
        cells = [anchor["phases"].get(phase, {}).get("wall_s")]
        cells += [runs[lv]["phases"].get(phase, {}).get("wall_s") for lv in levels]
        span = headline["phases"].get(phase, {})
        opened = (
            f"{span['started_s']:.1f}-{span['ended_s']:.1f} s" if "started_s" in span and "ended_s" in span else "-"
        )
        lines.append(f"{phase:<12}" + "".join(f"{_f(c):>10}" for c in cells) + f"{opened:>16}")
    for segment, figures in headline["bound"].items():
        together = "ran at the same time" if "+" in segment else "ran alone"
        lines.append(f"  ({segment} {together} at C={head}: bound {_f(figures['bound_s'])} s)")

    replay = report["replay"]
    lines += [
        "",
        "replay (second run, all from cache)",
        (
            f"  ours --replay     {replay['ours']['wall_s']:6.1f} s  (phases {replay['ours']['phases_wall_s']:.1f} s)"
            f"  server hits {replay['ours']['server']['requests']}"
        ),
        (
            f"  stock DSPy cache  {replay['anchor']['wall_s']:6.1f} s  "
            f"(phases {replay['anchor']['phases_wall_s']:.1f} s)  server hits {replay['anchor']['server']['requests']}"
        ),
    ]
    lines += [
        "",
        (
            f"rate limit: simulator quota {report['tpm_limit']} TPM, {report['ratelimit']['limiter_on']['concurrency']}"
            " requests in flight"
        ),
    ]
    for key, label in (("limiter_on", "client limiter on "), ("limiter_off", "client limiter off")):
        r = report["ratelimit"][key]
        lines.append(
            f"  {label}  {r['share_of_limit'] * 100:5.1f}% of quota over {r['window_s']:.0f} s, "
            f"{r['server_rate_limited']} of {r['server_requests']} requests answered 429 "
            f"({r['share_429'] * 100:.1f}%), failed {sum(r['failed'].values())}"
        )
    lines += ["", "targets"]
    for t in report["targets"]:
        lines.append(f"  [{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['measured']} (goal {t['goal']})")
    lines.append(f"\nbench wall time {report['bench_wall_s'] / 60:.1f} min")
    return "\n".join(lines)
