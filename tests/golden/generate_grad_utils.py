#!/usr/bin/env python3
"""Golden values of torch's gradient utilities for tests/test_grad_utils.cpp.

The committed tests/golden/grad_utils.inc was produced with PyTorch 2.15.0 (CPU, Python 3.11);
the file records torch.__version__. Regenerate with

    /work/torchvenv/bin/python tests/golden/generate_grad_utils.py > tests/golden/grad_utils.inc

Every input is fp32 and written out exactly (hex floats), so the C++ test feeds fusedopt the very
values torch saw:
  - clip_grad_norm: torch.nn.utils.clip_grad_norm_ over a few gradients, norm types 2, 1, inf
    and 3, with clipping (small max_norm) and without (large max_norm); the per-tensor norms
    (torch._foreach_norm), the total norm and the clipped gradients. "exact" cases use values
    whose terms sum exactly in fp32 (any summation order gives torch's bits); "random" cases
    are torch.randn draws, where the order of fp32 sums legitimately differs from torch's;
    "nonfinite" cases hold inf or NaN.
  - clip_grad_value: torch.nn.utils.clip_grad_value_, NaN and +-inf included.
  - unscale: torch._amp_foreach_non_finite_check_and_unscale_ (found_inf and the gradients).
  - scaler: torch.amp.GradScaler("cpu", ...) driving torch.optim.SGD(lr=0.125) over 30 steps
    whose gradients (0.5, -0.25, 1) * scale hold an inf at the steps of a pattern; the scale,
    the growth tracker and the parameter after every step.
"""
import math
import sys

import torch

F32 = torch.float32


def lit(x):
    """A C++ float literal for an fp32 value (kInf / kNaN for the non-finite ones)."""
    x = float(x)
    if math.isnan(x):
        return "kNaN"
    if math.isinf(x):
        return "kInf" if x > 0 else "-kInf"
    return x.hex() + "f"


def dlit(x):
    x = float(x)
    if math.isinf(x):
        return "kInfD"
    return x.hex()


def floats(values):
    return "{" + ", ".join(lit(v) for v in values) + "}"


def lists(tensors):
    return "{" + ", ".join(floats(t.tolist()) for t in tensors) + "}"


def exact_grads():
    return [
        torch.tensor([3.0, -4.0], dtype=F32),
        torch.tensor([0.5, 1.5, -2.25, 0.0], dtype=F32),
        torch.tensor([12.0], dtype=F32),
        torch.tensor([-0.125, 0.75, 2.0], dtype=F32),
    ]


def random_grads():
    gen = torch.Generator().manual_seed(20261201)
    return [torch.randn(n, generator=gen, dtype=F32) for n in (1, 5, 17, 64)]


def nonfinite_grads(bad):
    g = exact_grads()
    g[1][2] = bad
    return g


def clip_norm_cases():
    cases = []
    inputs = [("exact", exact_grads, True), ("random", random_grads, False)]
    for name, make, exact in inputs:
        for norm_type in (2.0, 1.0, math.inf, 3.0):
            for max_norm in (1.0, 1000.0):
                cases.append((f"{name}_p{norm_type:g}_max{max_norm:g}", make, norm_type, max_norm, exact))
    for bad, bad_name in ((math.inf, "inf"), (math.nan, "nan")):
        for norm_type in (2.0, math.inf):
            cases.append((f"nonfinite_{bad_name}_p{norm_type:g}", lambda b=bad: nonfinite_grads(b),
                          norm_type, 1.0, True))
    out = []
    for case_id, make, norm_type, max_norm, exact in cases:
        grads = make()
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        tensor_norms = torch._foreach_norm([g.clone() for g in grads], norm_type)
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        out.append((case_id, norm_type, max_norm, exact, grads, [n.item() for n in tensor_norms],
                    total.item(), [p.grad for p in params]))
    return out


def clip_value_cases():
    base = [
        torch.tensor([0.5, -2.0, 1.0, -0.75, 0.1, math.inf, -math.inf, math.nan], dtype=F32),
        torch.tensor([-1e30, 3.0, 1e-30, -0.0], dtype=F32),
    ]
    out = []
    for clip_value in (0.75, 0.0, 0.1, 1e38):
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in base]
        for p, g in zip(params, base):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_value_(params, clip_value)
        out.append((f"clip_{clip_value:g}", clip_value, base, [p.grad for p in params]))
    return out


def unscale_cases():
    finite = [
        torch.tensor([65536.0, -3.0, 1e-3, 0.0], dtype=F32),
        torch.tensor([7.0, 1e38, -2.5], dtype=F32),
    ]
    with_inf = [t.clone() for t in finite]
    with_inf[1][0] = math.inf
    with_nan = [t.clone() for t in finite]
    with_nan[0][3] = math.nan
    out = []
    for name, grads in (("finite", finite), ("inf", with_inf), ("nan", with_nan)):
        for inv_scale in (2.0**-16, 0.3, 1.0):
            g = [t.clone() for t in grads]
            found_inf = torch.zeros((), dtype=F32)
            inv = torch.full((), inv_scale, dtype=F32)
            torch._amp_foreach_non_finite_check_and_unscale_(g, found_inf, inv)
            out.append((f"{name}_inv{inv.item():g}", inv.item(), grads, g, found_inf.item()))
    return out


STEPS = 30
PATTERN = "1100011100000010010000000111" + "01"  # '1': this step's gradients hold an inf


def scaler_cases():
    specs = [
        ("default_interval3", dict(init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)),
        ("factors_1.5_0.25", dict(init_scale=1000.0, growth_factor=1.5, backoff_factor=0.25, growth_interval=2)),
        ("no_overflow", dict(init_scale=2.0**126, growth_factor=2.0, backoff_factor=0.5, growth_interval=1)),
    ]
    out = []
    for name, kw in specs:
        p = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=F32))
        opt = torch.optim.SGD([p], lr=0.125)
        scaler = torch.amp.GradScaler("cpu", **kw)
        pattern = PATTERN if name != "no_overflow" else "0" * STEPS
        scales, trackers, params = [], [], []
        for step in range(STEPS):
            scale = scaler.get_scale()
            g = torch.tensor([0.5, -0.25, 1.0], dtype=F32) * torch.tensor(scale, dtype=F32)
            if pattern[step] == "1":
                g[1] = math.inf
            p.grad = g
            scaler.scale(torch.zeros(()))  # initializes the scale tensor, as a loss would
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
            trackers.append(scaler._get_growth_tracker())
            params.append(p.detach().clone())
        out.append((name, kw, pattern, scales, trackers, params))
    return out


def main():
    out = sys.stdout
    out.write("// Generated by tests/golden/generate_grad_utils.py; do not edit.\n")
    out.write(f"// torch.__version__ = {torch.__version__}, Python {sys.version.split()[0]}\n")
    out.write(f'inline constexpr const char* kGradGoldenTorchVersion = "{torch.__version__}";\n')

    out.write("// {id, norm_type, max_norm, exact, grads, tensor norms, total norm, clipped grads}\n")
    out.write("inline const GoldenClipNorm kGoldenClipNorm[] = {\n")
    for case_id, norm_type, max_norm, exact, grads, norms, total, clipped in clip_norm_cases():
        out.write(f'    {{"{case_id}", {dlit(norm_type)}, {dlit(max_norm)}, {str(exact).lower()},\n')
        out.write(f"     {lists(grads)},\n     {floats(norms)}, {lit(total)},\n     {lists(clipped)}}},\n")
    out.write("};\n")

    out.write("// {id, clip_value, grads, clipped grads}\n")
    out.write("inline const GoldenClipValue kGoldenClipValue[] = {\n")
    for case_id, clip_value, grads, clipped in clip_value_cases():
        out.write(f'    {{"{case_id}", {dlit(clip_value)}, {lists(grads)}, {lists(clipped)}}},\n')
    out.write("};\n")

    out.write("// {id, inv_scale, grads, unscaled grads, found_inf}\n")
    out.write("inline const GoldenUnscale kGoldenUnscale[] = {\n")
    for case_id, inv, grads, unscaled, found_inf in unscale_cases():
        out.write(f'    {{"{case_id}", {lit(inv)}, {lists(grads)}, {lists(unscaled)}, {lit(found_inf)}}},\n')
    out.write("};\n")

    out.write(f"inline constexpr int kGoldenScalerSteps = {STEPS};\n")
    out.write("// {id, init_scale, growth_factor, backoff_factor, growth_interval, inf pattern,\n")
    out.write("//  scale after each step, growth tracker after each step, parameter after each step}\n")
    out.write("inline const GoldenScaler kGoldenScaler[] = {\n")
    for name, kw, pattern, scales, trackers, params in scaler_cases():
        out.write(f'    {{"{name}", {dlit(kw["init_scale"])}, {dlit(kw["growth_factor"])}, '
                  f'{dlit(kw["backoff_factor"])}, {kw["growth_interval"]}, "{pattern}",\n')
        out.write("     {" + ", ".join(dlit(s) for s in scales) + "},\n")
        out.write("     {" + ", ".join(str(t) for t in trackers) + "},\n")
        out.write(f"     {lists(params)}}},\n")
    out.write("};\n")


if __name__ == "__main__":
    main()
