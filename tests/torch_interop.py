#!/usr/bin/env python3
"""Moves runs between PyTorch and fusedopt through tools/torch_state_dict.py.

For every torch.optim optimizer fusedopt has (one configuration each, two param groups):
  torch -> fusedopt: torch runs 5 steps and saves; the converted file is resumed by
      fusedopt_replay for steps 5..9; the result must match torch's uninterrupted 10 steps.
  fusedopt -> torch: fusedopt_replay runs 5 steps and saves; torch loads the converted file and
      runs steps 5..9; the result must match fusedopt's uninterrupted 10 steps.
  round trip: torch state_dict -> fusedopt file -> torch state_dict is unchanged.
And torch's bf16 state (AdamW on bf16 parameters): BF16 entries, an exact round trip, and
fusedopt's resume of it against torch's.
The two libraries round differently (fp32 either way), so "match" is |a - b| <= 1e-5 * (1 + |b|)
over the parameters and every state tensor (step, moments, mu_product, eta, mu, ...); a lost or
misread state entry, step or option shows as far larger errors.

Without torch in this Python it installs a CPU-usable torch into the virtual environment
VENV_DIR (scripts/torch_venv.sh; about a minute, once) and reruns itself there;
FUSEDOPT_TORCH_PYTHON names another interpreter that has torch instead. Exit 77 (ctest:
skipped) only when neither works because the package index cannot be reached.
Usage: torch_interop.py PATH/TO/fusedopt_replay [VENV_DIR]
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))


def reexec(python):
    os.environ["FUSEDOPT_TORCH_REEXEC"] = "1"  # once: that one may lack torch too
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


try:
    import torch
except ImportError:
    if os.environ.get("FUSEDOPT_TORCH_REEXEC"):
        sys.exit("torch_interop.py: %s cannot import torch" % sys.executable)
    if os.environ.get("FUSEDOPT_TORCH_PYTHON"):
        reexec(os.environ["FUSEDOPT_TORCH_PYTHON"])
    if len(sys.argv) < 3:
        print("SKIPPED: torch is not importable by %s and no VENV_DIR was given to install it "
              "into; the converter was not exercised" % sys.executable)
        sys.exit(1 if os.environ.get("CI") in ("true", "1") else 77)
    setup = subprocess.run(["bash", os.path.join(HERE, "..", "scripts", "torch_venv.sh"), sys.argv[2]],
                           stdout=subprocess.PIPE, text=True)
    if setup.returncode == 77 and os.environ.get("CI") in ("true", "1"):
        sys.exit("torch_interop.py: CI=true and torch cannot be installed (pip's index cannot be reached)")
    if setup.returncode == 77:
        print("SKIPPED: torch is not installed and the package index cannot be reached to install it; "
              "the converter was not exercised")
        sys.exit(77)
    if setup.returncode != 0:
        sys.exit("torch_interop.py: installing torch into %s failed (exit %d)" % (sys.argv[2], setup.returncode))
    reexec(setup.stdout.strip().splitlines()[-1])

import torch_state_dict as conv  # noqa: E402

CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2, weight_decay=0.01, amsgrad=True)),
    ("AdamW", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("Adamax", dict(lr=1e-2, weight_decay=0.01)),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=1e-2, weight_decay=0.01)),
    ("Adadelta", dict(lr=1.0, weight_decay=0.01)),
    ("Rprop", dict(lr=1e-2)),
    ("ASGD", dict(lr=1e-2, t0=3)),
]
SHAPES = [(4, 3), (5,), (2, 2, 2), (1,)]
STEPS, SAVE_AT, TOL = 10, 5, 1e-5


def make(name, options, params):
    cls = getattr(torch.optim, name)
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": options["lr"] * 0.5}]
    return cls(groups, **options)


def close(a, b):
    return all(torch.allclose(x, y, rtol=TOL, atol=TOL) for x, y in zip(a, b))


def state_differences(torch_sd, fusedopt_file, what):
    """Every state tensor of torch_sd against the fusedopt checkpoint (converted to torch)."""
    ours = conv.to_torch(*conv.read_fusedopt(fusedopt_file), shapes=SHAPES)["state"]
    out = []
    for pid, entry in torch_sd["state"].items():
        for key, value in entry.items():
            other = ours.get(pid, {}).get(key)
            if torch.is_tensor(value) and other is not None and torch.allclose(
                    value.float(), other, rtol=TOL, atol=TOL):
                continue
            out.append("%s: state[%d][%s] differs" % (what, pid, key))
    return out


def data_file(path, params, grads, first):
    tensors = {"param.%d" % i: ("F32", [p.numel()], p.detach().reshape(-1).tolist()) for i, p in enumerate(params)}
    for s in range(first, STEPS):
        for i, g in enumerate(grads[s]):
            tensors["grad.%d.%d" % (s, i)] = ("F32", [g.numel()], g.reshape(-1).tolist())
    conv.write_safetensors(path, tensors, {})


def replay_params(path):
    tensors, _ = conv.read_safetensors(path)
    return [torch.tensor(tensors["param.%d" % i][2]).reshape(s) for i, s in enumerate(SHAPES)]


def torch_steps(opt, params, grads, first, last):
    for s in range(first, last):
        for p, g in zip(params, grads[s]):
            p.grad = g.clone()
        opt.step()


def check(name, options, replay, tmp, seed):
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen) for s in SHAPES]
    grads = [[torch.randn(s, generator=gen) * 0.5 for s in SHAPES] for _ in range(STEPS)]
    path = lambda n: os.path.join(tmp, n)  # noqa: E731
    failures = []

    # torch, uninterrupted, saving at SAVE_AT.
    params = [torch.nn.Parameter(t.clone()) for t in init]
    opt = make(name, options, params)
    torch_steps(opt, params, grads, 0, SAVE_AT)
    torch.save(opt.state_dict(), path("torch5.pt"))
    params5 = [p.detach().clone() for p in params]
    torch_steps(opt, params, grads, SAVE_AT, STEPS)
    torch_final = [p.detach().clone() for p in params]
    torch_final_state = opt.state_dict()

    # Round trip of torch's state_dict through the fusedopt file.
    sd = torch.load(path("torch5.pt"), weights_only=True)
    conv.write_fusedopt(path("rt.safetensors"), *conv.from_torch(sd, name))
    back = conv.to_torch(*conv.read_fusedopt(path("rt.safetensors")), shapes=SHAPES)
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            other = back["state"][pid].get(key)
            if other is None and name == "SGD" and key == "step":
                continue
            if other is None or not torch.equal(torch.as_tensor(value, dtype=torch.float32), other):
                failures.append("round trip changed state[%d][%s]" % (pid, key))
    for g, h in zip(sd["param_groups"], back["param_groups"]):
        if g != h:
            failures.append("round trip changed param_groups: %s vs %s" % (g, h))

    # torch -> fusedopt: resume torch's checkpoint in fusedopt.
    data_file(path("data5.safetensors"), params5, grads, SAVE_AT)
    conv.write_fusedopt(path("from_torch.safetensors"), *conv.from_torch(sd, name))
    subprocess.run([replay, path("from_torch.safetensors"), path("data5.safetensors"), str(SAVE_AT), str(STEPS),
                    path("f_out.safetensors"), path("f_params.safetensors")], check=True)
    if not close(replay_params(path("f_params.safetensors")), torch_final):
        failures.append("torch -> fusedopt: the resumed run differs from torch's")
    failures += state_differences(torch_final_state, path("f_out.safetensors"), "torch -> fusedopt")

    # fusedopt -> torch: fusedopt runs from the start (a checkpoint without state), saves at 5.
    fresh = make(name, options, [torch.nn.Parameter(t.clone()) for t in init])
    conv.write_fusedopt(path("start.safetensors"), *conv.from_torch(fresh.state_dict(), name))
    data_file(path("data0.safetensors"), init, grads, 0)
    subprocess.run([replay, path("start.safetensors"), path("data0.safetensors"), "0", str(STEPS),
                    path("f10.safetensors"), path("f10_params.safetensors")], check=True)
    fused_final = replay_params(path("f10_params.safetensors"))
    subprocess.run([replay, path("start.safetensors"), path("data0.safetensors"), "0", str(SAVE_AT),
                    path("f5.safetensors"), path("f5_params.safetensors")], check=True)
    torch.save(conv.to_torch(*conv.read_fusedopt(path("f5.safetensors")), shapes=SHAPES), path("to_torch.pt"))
    params = [torch.nn.Parameter(t) for t in replay_params(path("f5_params.safetensors"))]
    opt = make(name, {**options, "lr": 123.0}, params)  # load must restore the lrs
    opt.load_state_dict(torch.load(path("to_torch.pt"), weights_only=True))
    torch_steps(opt, params, grads, SAVE_AT, STEPS)
    if not close([p.detach() for p in params], fused_final):
        failures.append("fusedopt -> torch: torch's resumed run differs from fusedopt's")
    failures += state_differences(opt.state_dict(), path("f10.safetensors"), "fusedopt -> torch")
    if not close(fused_final, torch_final):
        failures.append("fusedopt and torch differ over 10 steps")
    return failures


def check_bf16(replay, tmp, seed):
    """torch's AdamW on bf16 parameters keeps bf16 state: it converts to BF16 entries and back
    exactly, and fusedopt resumes it (fp32 parameters here: the state is widened on load) as
    torch resumes it into fp32 parameters (its load_state_dict casts the state likewise)."""
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen).to(torch.bfloat16) for s in SHAPES]
    grads = [[(torch.randn(s, generator=gen) * 0.5).to(torch.bfloat16) for s in SHAPES] for _ in range(STEPS)]
    path = lambda n: os.path.join(tmp, n)  # noqa: E731
    failures = []
    params = [torch.nn.Parameter(t.clone()) for t in init]
    opt = make("AdamW", dict(lr=1e-2), params)
    torch_steps(opt, params, grads, 0, SAVE_AT)
    sd = opt.state_dict()
    conv.write_fusedopt(path("bf16.safetensors"), *conv.from_torch(sd, "AdamW"))
    tensors, _ = conv.read_safetensors(path("bf16.safetensors"))
    dtypes = {t[0] for name, t in tensors.items() if name.endswith((".exp_avg", ".exp_avg_sq"))}
    if dtypes != {"BF16"}:
        failures.append("torch's bf16 state was written as %s, not BF16" % sorted(dtypes))
    back = conv.to_torch(*conv.read_fusedopt(path("bf16.safetensors")), shapes=SHAPES)
    for pid, entry in sd["state"].items():
        for key in ("exp_avg", "exp_avg_sq"):
            other = back["state"][pid][key]
            if other.dtype != torch.bfloat16 or not torch.equal(other, entry[key]):
                failures.append("bf16 round trip changed state[%d][%s]" % (pid, key))
    # Both continue in fp32 from the bf16 values.
    params5 = [p.detach().float() for p in params]
    wide = [[g.float() for g in step] for step in grads]
    data_file(path("bf16_data.safetensors"), params5, wide, SAVE_AT)
    subprocess.run([replay, path("bf16.safetensors"), path("bf16_data.safetensors"), str(SAVE_AT), str(STEPS),
                    path("bf16_out.safetensors"), path("bf16_params.safetensors")], check=True)
    resumed = [torch.nn.Parameter(p.clone()) for p in params5]
    torch_opt = make("AdamW", dict(lr=1e-2), resumed)
    torch_opt.load_state_dict(sd)
    torch_steps(torch_opt, resumed, wide, SAVE_AT, STEPS)
    if not close(replay_params(path("bf16_params.safetensors")), [p.detach() for p in resumed]):
        failures.append("bf16 state: fusedopt's resumed run differs from torch's")
    return failures


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    replay = os.path.abspath(sys.argv[1])
    seed = int(os.environ.get("FUSEDOPT_TEST_SEED", "0")) or int.from_bytes(os.urandom(4), "little")
    print("seed %d (FUSEDOPT_TEST_SEED reproduces), torch %s" % (seed, torch.__version__))
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in CONFIGS:
            problems = check(name, options, replay, tmp, seed)
            print("%-8s %-60s %s" % (name, options, "ok" if not problems else "FAILED"))
            for p in problems:
                print("    " + p)
            failed |= bool(problems)
        problems = check_bf16(replay, tmp, seed)
        print("%-8s %-60s %s" % ("AdamW", "bf16 parameters and state", "ok" if not problems else "FAILED"))
        for p in problems:
            print("    " + p)
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
