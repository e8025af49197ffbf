"""report.md and charts, rendered from results.json (the source of truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _cell(metric: dict[str, Any] | None) -> str:
    if not metric:
        return "–"
    if "value" in metric:
        return f"{metric['value']:.3f}"
    low, high = metric["ci95"]
    return f"{metric['mean']:.3f} [{low:.2f}, {high:.2f}]"


def render_report(results: dict[str, Any]) -> str:
    lines = ["# veritune evaluation", "",
             "Means with bootstrap 95 % intervals over items; deltas are paired over the same items.", ""]
    for name, task in results["tasks"].items():
        systems = task["systems"]
        metrics = sorted({m for s in systems.values() for m in s})
        lines += [f"## {name} (v{task['version']}, {task['items']} items)", "",
                  "| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for system, values in systems.items():
            lines.append(f"| {system} | " + " | ".join(_cell(values.get(m)) for m in metrics) + " |")
        for system, langs in task.get("by_language", {}).items():
            parts = [f"{lang} ({v['items']}): " + ", ".join(f"{m} {x:.3f}" for m, x in v.items() if m != "items")
                     for lang, v in langs.items() if len(v) > 1]
            if parts:
                lines += ["", f"By language, {system}: " + "; ".join(parts)]
        for pair, deltas in task["paired"].items():
            if deltas:
                lines.append("")
                lines.append(f"Δ {pair}: " + "; ".join(f"{m} {d['mean']:+.3f} [{d['ci95'][0]:+.2f}, "
                                                       f"{d['ci95'][1]:+.2f}]" for m, d in deltas.items()))
        lines.append("")
    cost = results.get("cost", {})
    lines += ["## speed and cost", ""]
    for system, speed in results.get("speed", {}).items():
        lines.append(f"- {system}: {speed['tokens']} tokens in {speed['seconds']} s "
                     f"({speed['tokens_per_second']} tokens/s)")
    if cost:
        precision = f" ({cost['precision']})" if cost.get("precision") else ""
        lines.append(f"- cost per 1k generated tokens at {cost['gpu_hour_price']}/GPU-hour on {cost['device']}"
                     f"{precision}: {cost['cost_per_1k_tokens']}")
    return "\n".join(lines) + "\n"


def render_charts(results: dict[str, Any], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, task in results["tasks"].items():
        systems = list(task["systems"])
        primary = next((m for m in ("accuracy", "set_recall", "token_f1") if m in task["systems"][systems[0]]), None)
        if primary is None:
            continue
        means = [task["systems"][s][primary]["mean"] for s in systems]
        errors = [[m - task["systems"][s][primary]["ci95"][0] for s, m in zip(systems, means, strict=True)],
                  [task["systems"][s][primary]["ci95"][1] - m for s, m in zip(systems, means, strict=True)]]
        fig, axis = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
        axis.bar(systems, means, yerr=errors, capsize=4, color=["#9aa5b1", "#3b82f6", "#10b981"][: len(systems)])
        axis.set(title=f"{name}: {primary}", ylim=(0, 1))
        fig.savefig(folder / f"{name}.png", dpi=110)
        plt.close(fig)
