#!/usr/bin/env python3
"""Turns fusedopt_bench JSON into a PNG chart: per configuration, loop / foreach / fused as a
percentage of the row's same-traffic ceiling measured in the same run (ceiling time / step
time); with --torch (the --out
file of compare_torch.py), a second panel of time per step next to torch's three paths.

    python3 bench/plot.py bench/results/<file>.json [--torch torch.json] [-o chart.png]

Needs matplotlib (installed with pip when missing).
"""
import argparse
import json
import subprocess
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import report  # noqa: E402

try:
    import matplotlib
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
    import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"loop": "#c44e52", "foreach": "#dd8452", "fused": "#4c72b0"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--torch", help="compare_torch.py --out file")
    parser.add_argument("-o", "--output", help="PNG path (default: the JSON path with .png)")
    args = parser.parse_args()
    table, context = report.load(args.json)
    if not table:
        sys.exit(f"{args.json}: no median rows")
    keys = sorted(table, key=lambda k: (k[3], k[2], k[0], k[1]))
    labels = [f"{o}\n{d} {m}\n{dev}" for o, d, m, dev in keys]
    torch_rows = None
    if args.torch:
        with open(args.torch) as f:
            torch_rows = {(r["optimizer"], r["dtype"], r["mix"], r["device"], r["impl"]): r
                          for r in json.load(f)["rows"]}

    panels = 2 if torch_rows else 1
    fig, axes = plt.subplots(panels, 1, figsize=(max(8, 1.4 * len(keys)), 4.5 * panels),
                             squeeze=False)
    width = 0.27
    ax = axes[0][0]
    for k, impl in enumerate(report.IMPLS):
        values = [table[key][impl]["pct_of_ceiling"] if impl in table[key] else 0 for key in keys]
        ax.bar([i + (k - 1) * width for i in range(len(keys))], values, width, label=impl,
               color=COLORS[impl])
    ax.axhline(100, color="black", linewidth=0.8, linestyle="--")
    title = "fusedopt: % of the same-traffic ceiling measured in the run (ceiling time / step time)"
    if "cuda_device" in context:
        title += f" ({context['cuda_device']})"
    else:
        title += f" (CPU, {context.get('num_cpus')} CPUs, {context.get('cpu_isa', '?')} loops)"
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("% of ceiling")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.legend()

    if torch_rows:
        ax = axes[1][0]
        series = [("fusedopt " + i, i, False) for i in report.IMPLS] + \
                 [("torch " + i, i, True) for i in report.IMPLS]
        width = 0.13
        for k, (name, impl, is_torch) in enumerate(series):
            values = []
            for key in keys:
                if is_torch:
                    row = torch_rows.get(key + (impl,))
                    values.append(row["torch_seconds"] * 1e3 if row and row["torch_seconds"] else 0)
                else:
                    row = table[key].get(impl)
                    values.append(report.seconds(row) * 1e3 if row else 0)
            ax.bar([i + (k - 2.5) * width for i in range(len(keys))], values, width, label=name,
                   color=COLORS[impl], alpha=0.45 if is_torch else 1.0,
                   hatch="//" if is_torch else None)
        ax.set_yscale("log")
        ax.set_ylabel("ms per step (log)")
        ax.set_title("time per step: fusedopt vs torch.optim (hatched)", fontsize=10)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.legend(fontsize=7, ncol=2)

    fig.tight_layout()
    output = args.output or args.json.rsplit(".", 1)[0] + ".png"
    fig.savefig(output, dpi=110)
    print(output)


if __name__ == "__main__":
    main()
