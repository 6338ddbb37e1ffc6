#!/usr/bin/env python3
"""Times torch.optim's for-loop, foreach and fused paths on the configurations of a
fusedopt_bench JSON file (same optimizer, options, dtype, tensor mix and device) and prints
one table with fusedopt's times and the ratios.

    python3 bench/compare_torch.py bench/results/<file>.json [--out torch.json] [--markdown]

Method, as fusedopt_bench: parameters and gradients filled once; 3 warm-up steps; each
iteration flushes the cache (a read of 4x the L2 size on CUDA, a 64 MiB memset on the CPU) and times
one step() (CUDA events, or wall time on the CPU); each of 5 repetitions runs for at least 0.2 s
and averages its iterations; the median of the repetitions is reported.

Differences to keep in mind: torch keeps optimizer state in the parameters' dtype (bf16 state
for bf16 parameters) where fusedopt keeps fp32 state unless Precision::state_dtype says bf16,
so the like-for-like row of torch's bf16 path is fusedopt's "<optimizer>+bf16_state"; ratios
compare time per step. "+clip" and "+clip_then_step" rows run torch's clip_grad_norm_ then
step(); "+master" and "+stochastic" have no torch counterpart. "n/a": torch has no such path
(fused exists for SGD, Adam, AdamW and Adagrad only, Adagrad's on the CPU only).
AdamWScheduleFree rows time the schedulefree package's for-loop and foreach paths (it has no
fused one; "n/a" when the package is not installed).
"""
import argparse
import json
import statistics
import sys
import time

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("compare_torch.py needs PyTorch: pip install torch")

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import report  # noqa: E402  (bench/report.py: reads fusedopt's JSON)

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def mix_sizes(name):
    """The tensor mixes of bench/mixes.hpp."""
    if name == "uniform":
        return [16 << 20] * 8
    if name == "gpt2":
        embd, vocab, ctx = 768, 50257, 1024
        sizes = [vocab * embd, ctx * embd]
        for _ in range(12):
            sizes += [embd, embd, embd * 3 * embd, 3 * embd, embd * embd, embd, embd, embd,
                      embd * 4 * embd, 4 * embd, 4 * embd * embd, embd]
        return sizes + [embd, embd]
    if name == "small10k":
        return [1024 << (i % 7) for i in range(10000)]
    if name == "tensors1000":
        return [1024 << (i % 7) for i in range(1000)]
    if name.startswith("sweep") and name.endswith("M"):
        return [(int(name[5:-1]) << 20) // 8] * 8
    raise ValueError(f"unknown mix {name}")


def make_optimizer(name, params, impl):
    """torch.optim with the options fusedopt_bench uses; None when torch lacks the path."""
    flags = {"loop": dict(foreach=False), "foreach": dict(foreach=True),
             "fused": dict(fused=True)}[impl]
    kinds = {
        "SGD": (torch.optim.SGD, dict(lr=1e-2, momentum=0.9)),
        "Adam": (torch.optim.Adam, {}), "AdamW": (torch.optim.AdamW, {}),
        "RMSprop": (torch.optim.RMSprop, {}), "Adagrad": (torch.optim.Adagrad, {}),
        "Adamax": (torch.optim.Adamax, {}), "NAdam": (torch.optim.NAdam, {}),
        "RAdam": (torch.optim.RAdam, {}), "Adadelta": (torch.optim.Adadelta, {}),
        "Rprop": (torch.optim.Rprop, {}), "ASGD": (torch.optim.ASGD, {}),
    }
    if name == "EMA":
        if impl == "fused":
            return None
        from torch.optim.swa_utils import AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn
        module = torch.nn.Module()
        module.params = torch.nn.ParameterList(params)
        if impl == "loop":
            averaged = AveragedModel(module, avg_fn=get_ema_avg_fn(0.999))
        else:
            averaged = AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(0.999))
        return lambda: averaged.update_parameters(module)
    if name == "AdamWScheduleFree":  # the reference package (pip install schedulefree)
        try:
            import schedulefree
        except ImportError:
            return None
        if impl == "fused":
            return None  # the package has a for-loop and a foreach path
        opt = schedulefree.AdamWScheduleFree(params, foreach=impl == "foreach")
        opt.train()
        return opt.step
    name, _, mode = name.partition("+")
    if mode not in ("", "bf16_state", "clip", "clip_then_step"):
        return None  # master weights and stochastic rounding: torch.optim has neither
    if name not in kinds:
        return None  # Lion is not in torch.optim
    cls, options = kinds[name]
    try:
        opt = cls(params, **options, **flags)
        opt.step()  # fused support is checked at the first step
    except (RuntimeError, ValueError, TypeError):
        return None
    if mode.startswith("clip"):
        foreach = impl != "loop"

        def clip_then_step():
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=foreach)
            opt.step()
        return clip_then_step
    return opt.step


TIMING = dict(repetitions=5, min_time=0.2)  # set from the command line in main()


def time_step(step, device):
    repetitions, min_time = TIMING["repetitions"], TIMING["min_time"]
    cuda = device == "cuda"
    if cuda:  # as fusedopt_bench: the L2 flushed by reading 4x its size (a sum), not a memset
        l2 = torch.cuda.get_device_properties(0).L2_cache_size
        flush = torch.ones(max(64 << 20, 4 * l2) // 4, dtype=torch.float32, device="cuda")
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    else:
        flush = torch.empty(64 << 20, dtype=torch.uint8)
    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
    means = []
    for _ in range(repetitions):
        times = []
        while not times or sum(times) < min_time:
            if cuda:
                flush.sum()
            else:
                flush.fill_(0x11)
            if cuda:
                start.record()
                step()
                stop.record()
                stop.synchronize()
                times.append(start.elapsed_time(stop) * 1e-3)
            else:
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        means.append(statistics.fmean(times))
    return statistics.median(means)


def run_torch(optimizer, dtype, mix, device, impl):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(n, dtype=DTYPES[dtype], device=device) * 0.01)
              for n in mix_sizes(mix)]
    for p in params:
        p.grad = torch.randn_like(p) * 0.01
    step = make_optimizer(optimizer, params, impl)
    if step is None:
        return None
    with torch.no_grad():
        return time_step(step, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="fusedopt_bench --benchmark_out file")
    parser.add_argument("--out", help="also write torch's times here (JSON, for plot.py)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="seconds per repetition (default 0.2, as fusedopt_bench)")
    parser.add_argument("--repetitions", type=int, default=5, help="default 5")
    parser.add_argument("--all-impls", action="store_true",
                        help="time torch's loop path too where the JSON has no fusedopt loop "
                             "row (default: torch's fused and foreach, and its loop only where "
                             "fusedopt's loop was measured)")
    args = parser.parse_args()
    TIMING.update(repetitions=args.repetitions, min_time=args.min_time)
    table, context = report.load(args.json)
    if not table:
        sys.exit(f"{args.json}: no median rows")
    if any(key[3] == "cuda" for key in table) and not torch.cuda.is_available():
        print("torch sees no CUDA device: the CUDA rows are skipped", file=sys.stderr)

    print(f"torch {torch.__version__}; fusedopt rows from {args.json} "
          f"(commit {context.get('commit', '?')})")
    header = ["optimizer", "dtype", "mix", "device"]
    for impl in report.IMPLS:
        header += [f"fo {impl} ms", f"torch {impl} ms"]
    header += ["fo fused vs torch fused", "fo fused vs torch foreach", "fo fused vs torch loop"]
    rows, results = [], []
    for (optimizer, dtype, mix, device), impls in sorted(table.items()):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        line = [optimizer, dtype, mix, device]
        torch_times = {}
        for impl in report.IMPLS:
            ours = impls.get(impl)
            wanted = args.all_impls or ours is not None or impl in ("fused", "foreach")
            theirs = run_torch(optimizer, dtype, mix, device, impl) if wanted else None
            torch_times[impl] = theirs
            results.append(dict(optimizer=optimizer, dtype=dtype, mix=mix, device=device,
                                impl=impl, torch_seconds=theirs,
                                fusedopt_seconds=report.seconds(ours) if ours else None))
            line += [f"{report.seconds(ours) * 1e3:.3f}" if ours else "-",
                     f"{theirs * 1e3:.3f}" if theirs else "n/a"]
        fused = impls.get("fused")
        for impl in ("fused", "foreach", "loop"):
            theirs = torch_times.get(impl)
            line.append(f"{theirs / report.seconds(fused):.2f}x" if fused and theirs else "n/a")
        rows.append(line)
        print("  " + " ".join(line), file=sys.stderr, flush=True)  # progress

    report.print_table(header, rows, args.markdown)
    print("ratios: torch time / fusedopt fused time (> 1: fusedopt is faster)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(torch=torch.__version__, rows=results), f, indent=1)


if __name__ == "__main__":
    main()
