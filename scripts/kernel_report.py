#!/usr/bin/env python3
"""Static report of every CUDA kernel fusedopt compiles: step, pass, finish and zero_grad.

Compiles each instance unit (kernels/instances/*.cu and the optimizers' units generated from
cmake/optimizers.cmake) to a cubin for one architecture (sm_90 by default) with
`ptxas -v`, reads registers, spills, stack (local memory) and shared memory per kernel, and the
block size of its __launch_bounds__ from the cubin (EIATTR_MAX_THREADS), computes the blocks per
SM and the occupancy from them, and looks in the SASS (cuobjdump) for 128-bit global loads and
stores (LDG.E.128 / STG.E.128). Writes a markdown table.

    python3 scripts/kernel_report.py [--arch 90] [--out FILE] [--jobs N] [--check]

--check exits 1 when any kernel spills (also enforced at build time: the CMake build
passes -warn-spills with --warning-as-error to ptxas, so CI fails on any spill) or a fused
step kernel fits fewer than two blocks per SM (NOTE(launch-bounds) in kernels/engine/apply.h).
"""
import argparse
import concurrent.futures
import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 512  # kernels/engine/config.h kThreads: the block size of a kernel without bounds
# Per-SM limits of compute capability 9.0 (8.0 has the same register file and block limits).
REGS_PER_SM, MAX_THREADS_PER_SM, MAX_BLOCKS_PER_SM, REG_UNIT = 65536, 2048, 32, 256
SMEM_PER_SM = 228 * 1024


def tool(name):
    """A CUDA tool from PATH, the toolkit, or pip's NVIDIA packages (nvidia-cuda-cuobjdump,
    nvidia-cuda-nvdisasm), which carry them where a slim toolkit lacks them."""
    path = shutil.which(name)
    if path:
        return path
    bases = ["/usr/local/cuda/bin", os.path.join(os.environ.get("CUDA_HOME", ""), "bin")]
    for site in sys.path:
        bases += sorted(glob.glob(os.path.join(site, "nvidia", "*", "bin")))
    for base in bases:
        candidate = os.path.join(base, name)
        if os.path.exists(candidate):
            return candidate
    sys.exit(f"kernel_report.py: {name} not found (the CUDA toolkit's bin/ on PATH, or "
             f"pip install nvidia-cuda-{name})")


def compile_one(source, arch, workdir):
    cubin = os.path.join(workdir, os.path.basename(source) + ".cubin")
    cmd = [tool("nvcc"), f"-arch=sm_{arch}", "-cubin", "-O3", "-std=c++17",
           "--expt-relaxed-constexpr", "-Xptxas", "-v", "-I", ROOT, "-I",
           os.path.join(ROOT, "include"), "-DFUSEDOPT_WITH_CUDA=1", "-o", cubin, source]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"nvcc failed on {source}:\n{done.stderr}")
    # cuobjdump -sass runs nvdisasm, which pip's packages put in their own bin/.
    env = dict(os.environ, PATH=os.path.dirname(tool("nvdisasm")) + os.pathsep + os.environ["PATH"])
    sass = subprocess.run([tool("cuobjdump"), "-sass", cubin], capture_output=True, text=True,
                          check=True, env=env).stdout
    elf = subprocess.run([tool("cuobjdump"), "-elf", cubin], capture_output=True, text=True,
                         check=True, env=env).stdout
    return done.stderr, sass, elf


def demangle(names):
    filt = shutil.which("cu++filt") or shutil.which("c++filt")
    if not filt:
        return {n: n for n in names}
    out = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True).stdout
    return dict(zip(names, out.splitlines()))


def split_top(args):
    """Template arguments split at top-level commas (not inside <...>)."""
    parts, depth, cur = [], 0, ""
    for ch in args:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return parts + [cur.strip()] if cur.strip() else parts


def pretty_dtype(t):
    """'Bf16State<Master<BFloat16> >' -> 'bf16 master bf16-state'."""
    t = t.strip()
    m = re.fullmatch(r"Bf16State<(.*)>", t)
    if m:
        return pretty_dtype(m.group(1)) + " bf16-state"
    m = re.fullmatch(r"Master<(.*)>", t)
    if m:
        return pretty_dtype(m.group(1)) + " master"
    return {"float": "f32", "Half": "f16", "BFloat16": "bf16"}.get(t, t)


def short_name(pretty):
    """'void fusedopt::kernels::step_kernel<fusedopt::kernels::AdamWStepOp, float, false, true>(...)'
    -> ('step', 'AdamWStepOp', 'f32', 'unscale'). The variant of a step or pass kernel names its
    bool template flags: stochastic (NOTE(stochastic-rounding)), unscale (NOTE(amp))."""
    m = re.search(r"(step|pass|finish|zero_grad)_kernel<(.*)>\(", pretty)
    if not m:
        return None
    kind, args = m.group(1), m.group(2).replace("fusedopt::kernels::", "")
    parts = split_top(args)
    if kind == "zero_grad":
        return kind, "-", pretty_dtype(parts[0]), ""
    if kind == "finish":
        return kind, parts[0], "-", ""
    flags = [name for name, value in zip(["stochastic", "unscale"], parts[2:]) if value == "true"]
    return kind, parts[0], pretty_dtype(parts[1]), "+".join(flags)


def parse_ptxas(log):
    kernels, current = {}, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            current = m.group(1)
            kernels[current] = dict(regs=0, spill_st=0, spill_ld=0, stack=0, smem=0)
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            kernels[current].update(stack=int(m.group(1)), spill_st=int(m.group(2)),
                                    spill_ld=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            kernels[current]["regs"] = int(m.group(1))
            m2 = re.search(r"(\d+) bytes smem", line)
            kernels[current]["smem"] = int(m2.group(1)) if m2 else 0
    return kernels


def parse_sass(sass):
    functions, current = {}, None
    for line in sass.splitlines():
        m = re.match(r"\s*Function : (\w+)", line)
        if m:
            current = m.group(1)
            functions[current] = dict(ldg128=0, stg128=0)
        elif current:
            if re.search(r"\bLDG\.E\.128", line):
                functions[current]["ldg128"] += 1
            if re.search(r"\bSTG\.E\.128", line):
                functions[current]["stg128"] += 1
    return functions


def parse_block_threads(elf):
    """Threads per block of each kernel's __launch_bounds__: the first value of
    EIATTR_MAX_THREADS in its .nv.info.<kernel> section."""
    threads, current, attribute = {}, None, None
    for line in elf.splitlines():
        m = re.match(r"\.nv\.info\.(\w+)\s*$", line.strip())
        if m:
            current, attribute = m.group(1), None
            continue
        m = re.search(r"Attribute:\s*(\w+)", line)
        if m:
            attribute = m.group(1)
            continue
        m = re.search(r"Value:\s*(0x[0-9a-fA-F]+)", line)
        if m and current and attribute == "EIATTR_MAX_THREADS":
            threads[current] = int(m.group(1), 16)
    return threads


def occupancy(regs, smem, threads):
    warps = threads // 32
    regs_per_warp = -(-max(regs, 1) * 32 // REG_UNIT) * REG_UNIT
    by_regs = REGS_PER_SM // (regs_per_warp * warps)
    by_threads = MAX_THREADS_PER_SM // threads
    by_smem = SMEM_PER_SM // smem if smem else MAX_BLOCKS_PER_SM
    blocks = min(by_regs, by_threads, by_smem, MAX_BLOCKS_PER_SM)
    return blocks, 100.0 * blocks * warps / (MAX_THREADS_PER_SM // 32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="90")
    parser.add_argument("--out", help="markdown file (default: stdout)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--check", action="store_true", help="exit 1 if any kernel spills")
    parser.add_argument("--only", default="*", metavar="GLOB",
                        help="instance files to compile, e.g. 'schedule_free_*' (default: all)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work, \
            concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        # The optimizers' units are generated from cmake/optimizers.cmake (NOTE(one-list)).
        subprocess.run(["cmake", f"-DFUSEDOPT_INSTANCES_DIR={work}/instances", "-P",
                        os.path.join(ROOT, "cmake/instances.cmake")], check=True)
        folders = [os.path.join(ROOT, "kernels/instances"), os.path.join(work, "instances/cuda")]
        sources = sorted((os.path.join(d, f) for d in folders for f in os.listdir(d)
                          if f.endswith(".cu") and fnmatch.fnmatch(f, args.only)),
                         key=os.path.basename)
        for log, sass, elf in pool.map(lambda s: compile_one(s, args.arch, work), sources):
            kernels, functions = parse_ptxas(log), parse_sass(sass)
            block_threads = parse_block_threads(elf)
            names = demangle(list(kernels))
            for mangled, k in kernels.items():
                short = short_name(names[mangled])
                if short:
                    k["threads"] = block_threads.get(mangled, THREADS)
                    rows.append((*short, k, functions.get(mangled, dict(ldg128=0, stg128=0))))
    order = {"step": 0, "pass": 1, "finish": 2, "zero_grad": 3}
    rows.sort(key=lambda r: (order[r[0]], r[1], r[2], r[3]))
    nvcc = subprocess.run([tool("nvcc"), "--version"], capture_output=True, text=True).stdout
    version = nvcc.strip().splitlines()[-1] if nvcc.strip() else "?"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "kernels"],
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        commit += " with uncommitted changes to kernels/"
    lines = [f"# Kernel report, sm_{args.arch}", "",
             f"Commit `{commit}`, {version}; threads per block from each kernel's "
             "`__launch_bounds__` (NOTE(launch-bounds)); blocks per SM and occupancy from them, "
             f"the registers and shared memory (sm_{args.arch} limits: {REGS_PER_SM} registers, "
             f"{MAX_THREADS_PER_SM} threads per SM). `LDG.128` / `STG.128`: 128-bit global loads "
             "and stores in the kernel's SASS (the vector path of the element loop). Generated by "
             "`scripts/kernel_report.sh`.", "",
             "| kernel | op | dtype | variant | registers | spill st/ld B | stack B | smem B "
             "| threads | blocks/SM | occupancy | LDG.128 | STG.128 |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    spills, single = [], []
    for kind, op, dtype, variant, k, f in rows:
        blocks, occ = occupancy(k["regs"], k["smem"], k["threads"])
        if kind == "step" and blocks < 2:
            single.append(f"{op}/{dtype}{'/' + variant if variant else ''}")
        lines.append(f"| {kind} | {op} | {dtype} | {variant or '-'} | {k['regs']} "
                     f"| {k['spill_st']}/{k['spill_ld']} "
                     f"| {k['stack']} | {k['smem']} | {k['threads']} | {blocks} | {occ:.0f} % "
                     f"| {f['ldg128']} | {f['stg128']} |")
        if k["spill_st"] or k["spill_ld"]:
            spills.append(f"{kind}<{op}, {dtype}{', ' + variant if variant else ''}>")
    steps = [r for r in rows if r[0] == "step"]
    no_vector = [f"{r[1]}/{r[2]}" for r in steps if r[5]["ldg128"] == 0 or r[5]["stg128"] == 0]
    lines += ["", f"{len(rows)} kernels; fused step kernels: {len(steps)}; spilling: "
              f"{', '.join(spills) or 'none'}; fused step kernels under two blocks per SM: "
              f"{', '.join(single) or 'none'}; without 128-bit loads and stores: "
              f"{', '.join(no_vector) or 'none'}.", ""]
    text = "\n".join(lines)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {args.out}: {len(rows)} kernels", file=sys.stderr)
    else:
        print(text)
    failed = False
    if args.check and spills:
        print("kernel_report.py: kernels spill: " + ", ".join(spills), file=sys.stderr)
        failed = True
    if args.check and single:
        print("kernel_report.py: fused step kernels under two blocks per SM: " + ", ".join(single),
              file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
