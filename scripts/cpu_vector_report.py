#!/usr/bin/env python3
"""Which of the CPU executor's dispatched fused loops (NOTE(cpu-isa)) the compiler vectorized.

Reads the disassembly of the given object files (objdump -d -C) and, for every function
run_baseline<UpdateRangeLoop<...>>, run_avx2<...> and run_avx512<...>, counts the packed float
arithmetic at that level's width (xmm for baseline, ymm for AVX2, zmm for AVX-512). A loop with
none runs scalar: GCC gave up on it (-fopt-info-vec-missed says why; NOTE(cpu-columns) in
kernels/engine/apply.h has the usual causes). Loops with stochastic rounding run at the baseline
level only and are not dispatched (update_range_cpu), so they are not listed; should one be, it
is counted apart. Exit status 1 with --check when a loop rounding to nearest is scalar.

    python3 scripts/cpu_vector_report.py [--check] build/cpu/CMakeFiles/fusedopt.dir/instances/cpu/*.o
"""
import argparse
import re
import subprocess
import sys

LEVELS = {"run_baseline": "xmm", "run_avx2": "ymm", "run_avx512": "zmm"}
# Packed single-precision arithmetic: what a vectorized optimizer loop must contain.
PACKED = re.compile(r"\bv?(add|sub|mul|div|sqrt|max|min)ps\b")
HEADER = re.compile(r"^[0-9a-f]+ <(.*)>:$")


def functions(path):
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", path], check=True,
                         capture_output=True, text=True).stdout
    name, body = None, []
    for line in out.splitlines():
        m = HEADER.match(line)
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
        elif name:
            body.append(line)
    if name:
        yield name, body


def short(name):
    """fusedopt::kernels::run_avx512<UpdateRangeLoop<Op, T, Flags, kUnscale, kStochastic>, ...>"""
    inner = name[name.index("UpdateRangeLoop<") + len("UpdateRangeLoop<"):]
    depth, end = 1, 0
    for end, ch in enumerate(inner):
        depth += ch == "<"
        depth -= ch == ">"
        if depth == 0:
            break
    return inner[:end].replace("fusedopt::kernels::", "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("objects", nargs="+")
    args = ap.parse_args()
    rows = []
    for path in args.objects:
        for name, body in functions(path):
            level = next((k for k in LEVELS if f"::{k}<" in name), None)
            if level is None or "UpdateRangeLoop<" not in name:
                continue
            reg = LEVELS[level]
            packed = sum(1 for l in body if PACKED.search(l) and f"%{reg}" in l)
            loop = short(name)
            rows.append((loop, level[4:], packed, loop.endswith("true")))
    scalar = sum(1 for r in rows if r[2] == 0 and not r[3])
    scalar_stochastic = sum(1 for r in rows if r[2] == 0 and r[3])
    for loop, level, packed, stochastic in sorted(rows):
        if not args.check or (packed == 0 and not stochastic):
            status = "ok" if packed else "scalar" if stochastic else "SCALAR"
            print(f"{status:6} {level:9} {packed:5}  {loop}")
    print(f"{len(rows)} dispatched loops; rounding to nearest: {scalar} of "
          f"{sum(1 for r in rows if not r[3])} without packed float arithmetic at their width; "
          f"stochastic rounding: {scalar_stochastic} of {sum(1 for r in rows if r[3])}")
    return 1 if args.check and scalar else 0


if __name__ == "__main__":
    sys.exit(main())
