#!/usr/bin/env python3
"""Prints fusedopt_bench JSON (--benchmark_out) as one table: loop, foreach and fused side by
side per optimizer, dtype, mix and device, with the byte-model bandwidth, the row's
same-traffic ceiling measured in the same run (the fused step's streams, bench/ceiling.hpp) and
each path's time as a percentage of it, launches per step and the fused speed-ups.

    python3 bench/report.py bench/results/<file>.json [--markdown]
"""
import argparse
import json
import sys

IMPLS = ("loop", "foreach", "fused")


def load(path):
    """{(optimizer, dtype, mix, device): {impl: row}} from the median aggregates, and context."""
    with open(path) as f:
        data = json.load(f)
    table = {}
    for row in data.get("benchmarks", []):
        if row.get("aggregate_name", "median") != "median" or row.get("error_occurred"):
            continue
        name = row.get("run_name", row["name"]).split("/min_time")[0]
        parts = name.split("/")
        if len(parts) != 5:
            continue
        optimizer, impl, dtype, mix, device = parts
        table.setdefault((optimizer, dtype, mix, device), {})[impl] = row
    return table, data.get("context", {})


def seconds(row):
    """Real (manual) time per step in seconds."""
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[row.get("time_unit", "ns")]
    return row["real_time"] * scale


def print_table(header, rows, markdown=False):
    """Right-aligned columns, or a Markdown table."""
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in rows:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for line in rows:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    table, context = load(args.json)
    if not table:
        sys.exit(f"{args.json}: no median rows (run with --benchmark_repetitions > 1)")

    ceilings = []
    if "cuda_device" in context:
        ceilings.append(f"CUDA: {context['cuda_device']}")
    ceilings.append(f"CPU: {context.get('num_cpus')} CPUs, loops compiled for "
                    f"{context.get('cpu_isa', '?')}")
    for key in ("commit", "date", "host_name"):
        if key in context:
            ceilings.append(f"{key}: {context[key]}")
    print("\n".join(ceilings))

    header = ["optimizer", "dtype", "mix", "device"]
    for impl in IMPLS:
        header += [f"{impl} ms", f"{impl} GB/s", f"{impl} %ceil"]
    header += ["ceiling GB/s", "streams", "launches l/fe/fu", "fused vs loop", "fused vs foreach",
               "host us (fused)"]
    rows = []
    for (optimizer, dtype, mix, device), impls in sorted(table.items(), key=lambda kv: (kv[0][3], kv[0][2], kv[0][0], kv[0][1])):
        line = [optimizer, dtype, mix, device]
        for impl in IMPLS:
            r = impls.get(impl)
            if r is None:
                line += ["-", "-", "-"]
            else:
                line += [f"{seconds(r) * 1e3:.3f}", f"{r['bytes_per_second'] / 1e9:.1f}",
                         f"{r['pct_of_ceiling']:.1f}"]
        any_row = next(iter(impls.values()))
        line.append(f"{any_row['ceiling_GBps']:.1f}" if "ceiling_GBps" in any_row else "-")
        line.append(any_row.get("label", "-"))
        line.append("/".join(str(int(impls[i]["launches"])) if i in impls else "-" for i in IMPLS))
        for base in ("loop", "foreach"):
            if base in impls and "fused" in impls:
                line.append(f"{seconds(impls[base]) / seconds(impls['fused']):.2f}x")
            else:
                line.append("-")
        fused = impls.get("fused", {})
        line.append(f"{fused['host_us']:.1f}" if "host_us" in fused else "-")
        rows.append(line)

    print_table(header, rows, args.markdown)

if __name__ == "__main__":
    main()
