#!/usr/bin/env python3
"""The table of deploy/local/bench.sh, from the raw results it left in one folder.

Usage: bench_table.py FOLDER. FOLDER holds settings.json and one NAME.json per run (rN-c-pipeline,
rN-pf-pipeline, rN-c-publish, rN-c-consume, rN-pf-amqp, rN-pf-amqp-window, rN-pf-open for round N;
pf-sustained, pf-ramp, pf-soak, pf-soak-report-time), and NAME.err beside a
run that failed. A failed run (an .err, no JSON, or a verdict that is not ok) leaves its round out of
that measure's medians and ratios and is listed under the table; the table is printed all the same.

Each row: the baseline's median, ParcelFlow's median, the median of the per-round ratios ParcelFlow /
baseline (rounds where both ran), the goal and whether it is met. Prints Markdown.
"""
import json
import statistics
import sys
from pathlib import Path

CELERY_SECONDS = 9.8  # docs/BASELINES.md: Celery 5.7, the same 2,000-parcel pipeline
DRAMATIQ_SECONDS = 4.4  # docs/BASELINES.md: Dramatiq 2.2
P99_BOUND_MS = 250


class Results:
    """The runs of one folder; remembers every failed run once, with why."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.settings = json.loads((self.folder / "settings.json").read_text())
        self.failures = {}

    def run(self, name):
        """The run's JSON object, or None when it failed or never ran (a failure is recorded)."""
        path, err = self.folder / f"{name}.json", self.folder / f"{name}.err"
        if not path.exists() and not err.exists():
            return None
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            result = None
        if result is not None and result.get("ok", True) is not True:
            reason = "verdict failed: " + "; ".join(result.get("violations") or ["not ok"])
        elif err.exists():
            lines = [line for line in err.read_text().splitlines() if line.strip()]
            reason = " / ".join(lines[-2:]) or "failed"
        elif result is None:
            reason = "printed no JSON object"
        else:
            return result
        self.failures.setdefault(name, reason)
        return None

    def value(self, name, extract):
        result = self.run(name)
        if result is None:
            return None
        try:
            return float(extract(result))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
            self.failures.setdefault(name, f"no figure in its JSON ({error!r})")
            return None

    def rounds(self, count=None):
        return range(1, (count or self.settings["rounds"]) + 1)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def paired(results, baseline, ours, extract_baseline, extract_ours):
    """Per round: the baseline's figure, ours, and ours / the baseline's where both ran."""
    pairs = [(results.value(f"r{r}-{baseline}", extract_baseline), results.value(f"r{r}-{ours}", extract_ours))
             for r in results.rounds()]
    ratios = [o / b for b, o in pairs if b is not None and o is not None and b > 0]
    return median(b for b, _ in pairs), median(o for _, o in pairs), median(ratios), len(ratios)


def verdict(value, goal):
    if value is None:
        return "not measured"
    return "**met**" if goal(value) else "**missed**"


def fmt(value, unit="", places=2):
    if value is None:
        return "—"
    text = f"{value:,.{places}f}"
    return text + unit if unit == "×" else f"{text} {unit}".strip()


def per_task_ms(result):
    return 1000 * result["cpu_seconds"]["workers"] / result["tasks"]


def table(results):
    s = results.settings
    rows = []

    def row(measure, baseline, ours, ratio, goal, met):
        rows.append((measure, baseline, ours, ratio, goal, met))

    def ratio_text(ratio, count, places=2):
        return f"{fmt(ratio, '×', places)} ({count} of {s['rounds']})" if ratio is not None else "—"

    parcels = f"{s['parcels']:,}"
    c, pf, ratio, n = paired(results, "c-pipeline", "pf-pipeline", lambda r: r["seconds"], lambda r: r["seconds"])
    pipeline_seconds = pf
    row(f"zero-work pipeline, {parcels} parcels, 2 workers: wall time", fmt(c, "s"), fmt(pf, "s"),
        ratio_text(ratio, n), "≤ 1.15× C", verdict(ratio, lambda x: x <= 1.15))
    c, pf, ratio, n = paired(results, "c-pipeline", "pf-pipeline", per_task_ms, per_task_ms)
    row("the same: workers' CPU per task", fmt(c, "ms", 3), fmt(pf, "ms", 3), ratio_text(ratio, n),
        "≤ 1.5× C's workers", verdict(ratio, lambda x: x <= 1.5))
    c, pf, _, _ = paired(results, "c-pipeline", "pf-pipeline", lambda r: r["worker_peak_rss_mb"],
                         lambda r: r["worker_peak_rss_mb"])
    row("the same: a worker's peak RSS", fmt(c, "MB", 1), fmt(pf, "MB", 1), "", "≤ 30 MB", verdict(pf, lambda x: x <= 30))

    messages = f"{s['messages']:,}"
    c, pf, ratio, n = paired(results, "c-publish", "pf-amqp", lambda r: r["msgs_per_s"], lambda r: r["publish_msgs_per_s"])
    row(f"AMQP publish, {messages} persistent messages, confirmed (`parcelctl bench amqp`)", fmt(c, "msg/s", 0),
        fmt(pf, "msg/s", 0), ratio_text(ratio, n), "≥ 1.0× C", verdict(ratio, lambda x: x >= 1.0))
    c, pf, ratio, n = paired(results, "c-publish", "pf-amqp-window", lambda r: r["msgs_per_s"],
                             lambda r: r["publish_msgs_per_s"])
    row("the same, waiting for confirms every 100 like the C loop (`--window 100`)", fmt(c, "msg/s", 0),
        fmt(pf, "msg/s", 0), ratio_text(ratio, n), "— (like for like)", "")
    c, pf, ratio, n = paired(results, "c-consume", "pf-amqp", lambda r: r["msgs_per_s"], lambda r: r["consume_msgs_per_s"])
    row(f"AMQP consume, {messages} messages, one ack each", fmt(c, "msg/s", 0), fmt(pf, "msg/s", 0),
        ratio_text(ratio, n), "≥ 0.9× C", verdict(ratio, lambda x: x >= 0.9))

    open_runs = [results.run(f"r{r}-pf-open") for r in results.rounds(min(s["open_rounds"], s["rounds"]))]
    open_runs = [r for r in open_runs if r is not None and r.get("open_loop")]
    what = f"open loop, 1,000 parcels/s for {s['open_seconds']} s ({len(open_runs)} run(s)): end to end from the due time"
    for key, label in (("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9")):
        values = [r["open_loop"]["end_to_end_ms"][key] for r in open_runs]
        spread = f" ({fmt(min(values), '', 1)}–{fmt(max(values), '', 1)})" if len(values) > 1 else ""
        goal, met = ("< 250 ms in every run", verdict(max(values) if values else None, lambda x: x < P99_BOUND_MS)) \
            if key == "p99" else ("", "")
        row(f"{what}, {label}", "", fmt(median(values), "ms", 1) + spread, "", goal, met)

    ramp = results.run("pf-ramp")
    sustained = results.value("pf-sustained", lambda r: r["parcels_per_s"])
    held = ramp["open_loop"]["ramp"] if ramp else None
    rate = held["highest_rate_held_per_s"] if held else None
    share = rate / sustained if rate is not None and sustained else None
    if held and rate is None:
        note = f"none held (the first step's p99 {fmt(held['steps'][0]['p99_ms'], 'ms', 0)})" if held["steps"] else "no step"
    else:
        note = fmt(rate, "parcels/s", 0) + ("" if not held or held["bound_reached"] else " (every step held: a floor)")
    row(f"ramp `{s['ramp']}`, p99 ≤ 250 ms: highest rate held, against the closed loop's throughput at "
        f"{s['sustained_parcels']:,} parcels", fmt(sustained, "parcels/s", 0), note,
        fmt(share, "×"), "≥ 0.80", verdict(share, lambda x: x >= 0.8))

    for name, seconds, goal, met in (
            ("Celery 5.7 (acks_late, prefork 2)", CELERY_SECONDS, "≤ 0.10× (10× faster)", lambda x: x <= 0.1),
            ("Dramatiq 2.2", DRAMATIQ_SECONDS, "", None)):
        ratio = pipeline_seconds / seconds if pipeline_seconds is not None else None
        row(f"{name}, the same pipeline (docs/BASELINES.md)", fmt(seconds, "s"), fmt(pipeline_seconds, "s"),
            fmt(ratio, "×") + (f" ({1 / ratio:.0f}× faster)" if ratio else ""), goal,
            verdict(ratio, met) if met else "")

    # The soak, and the report timed on its store.
    soak = results.run("pf-soak")
    if soak is None:
        row("soak (PF_BENCH_SOAK_PARCELS=0 leaves it out)", "", "not run", "", "", "")
    else:
        figures = soak["soak"]
        size = f"{soak['parcels']:,} parcels"
        row(f"soak, {size}: last full interval's throughput / first's "
            f"({fmt(figures['first_parcels_per_s'], 'parcels/s', 0)} → {fmt(figures['last_parcels_per_s'], 'parcels/s', 0)})",
            "", fmt(figures["last_over_first"], "×"), "", "≥ 0.90", verdict(figures["last_over_first"], lambda x: x >= 0.9))
        row("soak: a worker's largest RSS", "", fmt(figures["worker_rss_mb_max"], "MB", 1), "", "< 40 MB",
            verdict(figures["worker_rss_mb_max"], lambda x: x < 40))
        row("soak: `parcelctl`'s CPU, share of the run", "", fmt(100 * figures["parcelctl_cpu_share"], "%", 1), "",
            "< 5 %", verdict(figures["parcelctl_cpu_share"], lambda x: x < 0.05))
        times = results.run("pf-soak-report-time") or {}
        for key, what in (("report_seconds", "`parcelctl report --json`"), ("api_report_seconds", "the dashboard's `/api/report`")):
            seconds = [t for t in times.get(key, []) if t is not None]
            middle = statistics.median(seconds) if seconds else None
            row(f"soak: {what} on its store ({fmt(figures['store_mb_end'], 'MB', 0)}, median of {len(seconds)})", "",
                fmt(middle, "s"), "", "< 0.5 s", verdict(middle, lambda x: x < 0.5))

    lines = ["| measure | baseline | ParcelFlow | ParcelFlow / baseline (median of rounds) | goal | |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines.append(f"Baseline: the C program over rabbitmq-c and SQLite (bench/c/amqp_baseline.c) unless named. "
                 f"{s['rounds']} alternating rounds (the open loop in the first {min(s['open_rounds'], s['rounds'])}); medians; "
                 f"{s['cores']} cores.")
    if results.failures:
        lines.append("Failed runs (left out of their rows):")
        lines += [f"- {name}: {reason}" for name, reason in sorted(results.failures.items())]
    else:
        lines.append("No run failed.")
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: bench_table.py FOLDER (the raw results of deploy/local/bench.sh)")
    print(table(Results(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
