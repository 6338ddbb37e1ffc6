#!/usr/bin/env python3
"""Golden lr (and momentum / beta1) sequences of torch's LR schedulers for tests/test_schedulers.cpp.

The committed tests/golden/schedulers.inc was produced with PyTorch 2.15.0 (CPU, Python 3.11);
the file records torch.__version__. Regenerate with

    python tests/golden/generate_schedulers.py > tests/golden/schedulers.inc

Every case builds an optimizer over two param groups (lr 0.1 and 0.05: SGD with momentum 0.9,
or Adam with betas (0.9, 0.999) where beta1 is cycled), builds the scheduler, and records each
group's lr after construction and after each of STEPS iterations of `optimizer.step();
scheduler.step()` (gradients are zero; they do not affect lrs). Cases that cycle momentum also
record it; ReduceLROnPlateau cases record the metric sequence they were stepped with.
test_schedulers.cpp builds the same cases by name over fusedopt optimizers.
"""
import math
import sys

import torch
from torch.optim import SGD, Adam
from torch.optim import lr_scheduler as L
from torch.optim.swa_utils import SWALR

STEPS = 40


def params():
    ps = [torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(3))]
    for p in ps:
        p.grad = torch.zeros_like(p)
    return ps


def sgd(momentum=0.9):
    a, b = params()
    return SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=momentum)


def adam():
    a, b = params()
    return Adam([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.05}], lr=0.1, betas=(0.9, 0.999))


def resumed(opt, initial_lrs=(0.2, 0.08)):
    """An optimizer as a resumed run has it: initial_lr set (different from the current lr)."""
    for group, initial in zip(opt.param_groups, initial_lrs):
        group["initial_lr"] = initial
    return opt


# The lambdas, identical in test_schedulers.cpp.
def decay_095(epoch):
    return 0.95**epoch


def inverse(epoch):
    return 1 / (epoch + 1)


def const_095(epoch):
    return 0.95


def const_09(epoch):
    return 0.9


def halve_every_4(epoch):
    return 0.5 if epoch % 4 == 0 else 1.0


def inverse_square(x):
    return 1 / (x * x)


def decay_099(x):
    return 0.99**x


# Metric sequences for ReduceLROnPlateau: improvements, plateaus, small (sub-threshold) gains.
PLATEAU_DOWN = [
    1.0, 0.9, 0.8, 0.8, 0.79995, 0.81, 0.8, 0.7, 0.69, 0.695, 0.7, 0.7, 0.69, 0.5, 0.5,
    0.49999, 0.6, 0.6, 0.6, 0.45, 0.45, 0.45, 0.45, 0.449, 0.3, 0.35, 0.35, 0.35, 0.35, 0.2,
    0.2, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
]
PLATEAU_UP = [
    0.1, 0.2, 0.3, 0.3, 0.35, 0.32, 0.31, 0.5, 0.55, 0.58, 0.6, 0.6, 0.59, 0.9, 0.91, 0.9, 0.9,
    0.85, 1.2, 1.21, 1.3, 1.3, 1.3, 1.3, 1.45, 1.4, 1.4, 1.4, 1.4, 1.4, 2.0, 2.0, 2.0, 2.05,
    2.05, 2.05, 2.05, 2.3, 2.3, 2.3,
]
assert len(PLATEAU_DOWN) == STEPS and len(PLATEAU_UP) == STEPS


def case(opt_factory, sched_factory, momentum=None, metrics=None):
    return dict(opt=opt_factory, sched=sched_factory, momentum=momentum, metrics=metrics)


CASES = {
    # LambdaLR, MultiplicativeLR
    "lambda_single": case(sgd, lambda o: L.LambdaLR(o, decay_095)),
    "lambda_per_group": case(sgd, lambda o: L.LambdaLR(o, [decay_095, inverse])),
    "multiplicative_single": case(sgd, lambda o: L.MultiplicativeLR(o, const_095)),
    "multiplicative_per_group": case(sgd, lambda o: L.MultiplicativeLR(o, [const_09, halve_every_4])),
    # StepLR, MultiStepLR
    "step_3_half": case(sgd, lambda o: L.StepLR(o, 3, 0.5)),
    "step_default_gamma": case(sgd, lambda o: L.StepLR(o, 7)),
    "multistep_repeated": case(sgd, lambda o: L.MultiStepLR(o, [3, 7, 7, 15], 0.5)),
    "multistep_default_gamma": case(sgd, lambda o: L.MultiStepLR(o, [10, 20])),
    # ConstantLR, LinearLR
    "constant_default": case(sgd, lambda o: L.ConstantLR(o)),
    "constant_half_8": case(sgd, lambda o: L.ConstantLR(o, 0.5, 8)),
    "constant_one": case(sgd, lambda o: L.ConstantLR(o, 1.0, 3)),
    "linear_default": case(sgd, lambda o: L.LinearLR(o)),
    "linear_quarter": case(sgd, lambda o: L.LinearLR(o, 0.25, 0.75, 10)),
    "linear_decay": case(sgd, lambda o: L.LinearLR(o, 1.0, 0.1, 20)),
    "linear_to_zero": case(sgd, lambda o: L.LinearLR(o, 1.0, 0.0, 10)),
    # ExponentialLR, PolynomialLR
    "exponential_decay": case(sgd, lambda o: L.ExponentialLR(o, 0.9)),
    "exponential_growth": case(sgd, lambda o: L.ExponentialLR(o, 1.05)),
    "polynomial_default": case(sgd, lambda o: L.PolynomialLR(o)),
    "polynomial_square": case(sgd, lambda o: L.PolynomialLR(o, 20, 2.0)),
    "polynomial_sqrt": case(sgd, lambda o: L.PolynomialLR(o, 25, 0.5)),
    # CosineAnnealingLR (40 steps cross several half periods), CosineAnnealingWarmRestarts
    "cosine_10": case(sgd, lambda o: L.CosineAnnealingLR(o, 10)),
    "cosine_7_eta_min": case(sgd, lambda o: L.CosineAnnealingLR(o, 7, 0.01)),
    "warm_restarts_5": case(sgd, lambda o: L.CosineAnnealingWarmRestarts(o, 5)),
    "warm_restarts_3_mult2": case(sgd, lambda o: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.001)),
    # ReduceLROnPlateau: every mode x threshold_mode, patience, cooldown, min_lr, eps
    "plateau_min_rel": case(sgd, lambda o: L.ReduceLROnPlateau(o, patience=2), metrics=PLATEAU_DOWN),
    "plateau_min_abs_cooldown": case(
        sgd,
        lambda o: L.ReduceLROnPlateau(o, "min", factor=0.5, patience=1, threshold=0.05,
                                      threshold_mode="abs", cooldown=2),
        metrics=PLATEAU_DOWN),
    "plateau_max_rel": case(
        sgd, lambda o: L.ReduceLROnPlateau(o, "max", factor=0.5, patience=1, threshold=0.05),
        metrics=PLATEAU_UP),
    "plateau_max_abs_cooldown": case(
        sgd,
        lambda o: L.ReduceLROnPlateau(o, "max", factor=0.3, patience=0, threshold=0.02,
                                      threshold_mode="abs", cooldown=3),
        metrics=PLATEAU_UP),
    "plateau_min_lr_per_group": case(
        sgd, lambda o: L.ReduceLROnPlateau(o, factor=0.2, patience=0, min_lr=[0.01, 0.002]),
        metrics=PLATEAU_DOWN),
    "plateau_min_lr_scalar_eps": case(
        sgd, lambda o: L.ReduceLROnPlateau(o, factor=0.9, patience=0, min_lr=0.03, eps=0.006),
        metrics=PLATEAU_DOWN),
    # CyclicLR: modes, custom scale_fn (both scale modes), momentum on SGD and beta1 on Adam
    "cyclic_triangular": case(
        sgd, lambda o: L.CyclicLR(o, [0.01, 0.005], [0.1, 0.05], step_size_up=4, step_size_down=6),
        momentum="momentum"),
    "cyclic_triangular2": case(
        sgd, lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5, mode="triangular2"),
        momentum="momentum"),
    "cyclic_exp_range": case(
        sgd, lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=5, mode="exp_range",
                                  gamma=0.97),
        momentum="momentum"),
    "cyclic_adam_beta1": case(
        adam, lambda o: L.CyclicLR(o, 0.001, 0.01, step_size_up=4, base_momentum=0.85,
                                   max_momentum=0.95),
        momentum="beta1"),
    "cyclic_no_momentum": case(
        lambda: sgd(0.0), lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, cycle_momentum=False)),
    "cyclic_scale_fn_cycle": case(
        sgd, lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=inverse_square,
                                  scale_mode="cycle"),
        momentum="momentum"),
    "cyclic_scale_fn_iterations": case(
        sgd, lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=2,
                                  scale_fn=decay_099, scale_mode="iterations"),
        momentum="momentum"),
    "cyclic_sawtooth_per_group_momentum": case(
        sgd, lambda o: L.CyclicLR(o, 0.02, [0.2, 0.1], step_size_up=6, step_size_down=0,
                                  base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.95]),
        momentum="momentum"),
    # OneCycleLR: two / three phases x cos / linear, epochs * steps_per_epoch, beta1, no momentum.
    # The cos cases take the last allowed step (last_epoch == total_steps), which extrapolates
    # past the end of the anneal; the linear ones stop one short, where torch would extrapolate
    # to a negative lr (fusedopt rejects it; see test_schedulers.cpp).
    "onecycle_cos": case(sgd, lambda o: L.OneCycleLR(o, 0.1, total_steps=STEPS), momentum="momentum"),
    "onecycle_linear_per_group": case(
        sgd, lambda o: L.OneCycleLR(o, [0.2, 0.1], total_steps=STEPS + 1, anneal_strategy="linear"),
        momentum="momentum"),
    "onecycle_three_phase_cos": case(
        sgd, lambda o: L.OneCycleLR(o, 0.1, total_steps=STEPS, pct_start=0.25, three_phase=True),
        momentum="momentum"),
    "onecycle_three_phase_linear": case(
        sgd, lambda o: L.OneCycleLR(o, 0.1, total_steps=STEPS + 1, pct_start=0.25,
                                    anneal_strategy="linear", three_phase=True),
        momentum="momentum"),
    "onecycle_epochs": case(
        sgd, lambda o: L.OneCycleLR(o, 0.1, epochs=4, steps_per_epoch=10, pct_start=0.4,
                                    div_factor=10.0, final_div_factor=100.0),
        momentum="momentum"),
    "onecycle_adam_beta1": case(
        adam, lambda o: L.OneCycleLR(o, 0.01, total_steps=STEPS, base_momentum=0.8,
                                     max_momentum=0.9),
        momentum="beta1"),
    "onecycle_no_momentum": case(
        lambda: sgd(0.0), lambda o: L.OneCycleLR(o, 0.1, total_steps=STEPS, cycle_momentum=False)),
    # SWALR
    "swa_cos": case(sgd, lambda o: SWALR(o, 0.01, anneal_epochs=10)),
    "swa_linear_per_group": case(sgd, lambda o: SWALR(o, [0.02, 0.01], 5, "linear")),
    "swa_zero_epochs": case(sgd, lambda o: SWALR(o, 0.01, anneal_epochs=0)),
    # SequentialLR, ChainedScheduler
    "sequential_warmup_cosine": case(
        sgd, lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 5), L.CosineAnnealingLR(o, 30)], [5])),
    "sequential_three": case(
        sgd, lambda o: L.SequentialLR(
            o, [L.ConstantLR(o, 0.5, 3), L.ExponentialLR(o, 0.9), L.StepLR(o, 4, 0.5)], [6, 15])),
    "sequential_warm_restarts": case(
        sgd, lambda o: L.SequentialLR(
            o, [L.LinearLR(o, 0.2, 1.0, 4), L.CosineAnnealingWarmRestarts(o, 6, 2)], [4])),
    "sequential_milestone_zero": case(
        sgd, lambda o: L.SequentialLR(o, [L.ExponentialLR(o, 0.9), L.MultiStepLR(o, [3, 5])], [0])),
    "sequential_multiplicative_polynomial": case(
        sgd, lambda o: L.SequentialLR(
            o, [L.MultiplicativeLR(o, const_09), L.PolynomialLR(o, 20, 2.0)], [8])),
    "sequential_chained_first": case(
        sgd, lambda o: L.SequentialLR(
            o, [L.ChainedScheduler([L.ConstantLR(o, 0.5, 3), L.ExponentialLR(o, 0.95)]),
                L.CosineAnnealingLR(o, 20, 0.001)], [10])),
    "chained_constant_exponential": case(
        sgd, lambda o: L.ChainedScheduler([L.ConstantLR(o, 0.5, 4), L.ExponentialLR(o, 0.9)])),
    "chained_step_linear": case(
        sgd, lambda o: L.ChainedScheduler([L.StepLR(o, 5, 0.5), L.LinearLR(o, 0.2, 1.0, 8)])),
    # Resumed runs (last_epoch >= 0): base lrs come from the groups' initial_lr (0.2, 0.08)
    "resume_lambda": case(lambda: resumed(sgd()), lambda o: L.LambdaLR(o, decay_095, last_epoch=3)),
    "resume_multiplicative": case(
        lambda: resumed(sgd()), lambda o: L.MultiplicativeLR(o, const_09, last_epoch=2)),
    "resume_step": case(lambda: resumed(sgd()), lambda o: L.StepLR(o, 3, 0.5, last_epoch=4)),
    "resume_constant": case(lambda: resumed(sgd()), lambda o: L.ConstantLR(o, 0.5, 5, last_epoch=4)),
    "resume_linear": case(lambda: resumed(sgd()), lambda o: L.LinearLR(o, 0.5, 1.0, 10, last_epoch=3)),
    "resume_exponential": case(lambda: resumed(sgd()), lambda o: L.ExponentialLR(o, 0.9, last_epoch=4)),
    "resume_polynomial": case(lambda: resumed(sgd()), lambda o: L.PolynomialLR(o, 10, 2.0, last_epoch=3)),
    "resume_cosine": case(lambda: resumed(sgd()), lambda o: L.CosineAnnealingLR(o, 10, last_epoch=4)),
    "resume_warm_restarts": case(
        lambda: resumed(sgd()), lambda o: L.CosineAnnealingWarmRestarts(o, 4, 2, last_epoch=6)),
    "resume_cyclic": case(
        lambda: resumed(sgd()), lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, last_epoch=5),
        momentum="momentum"),
    # CyclicLR's initial step cycles from an existing initial_lr (torch sets base_lrs late)
    "cyclic_existing_initial_lr": case(
        lambda: resumed(sgd()), lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4),
        momentum="momentum"),
    "resume_swalr": case(lambda: resumed(sgd()), lambda o: SWALR(o, 0.01, 5, last_epoch=3)),
}


def resumed_onecycle():
    # torch reads max_lr / min_lr / momenta from the groups when resuming; they are what
    # OneCycleLR(max_lr=0.1, base_momentum=0.85, max_momentum=0.95) stored at the start of a run
    # whose groups' initial_lr are 0.2 and 0.08.
    opt = resumed(sgd())
    for group in opt.param_groups:
        group["max_lr"] = 0.1
        group["min_lr"] = group["initial_lr"] / 1e4
        group["max_momentum"] = 0.95
        group["base_momentum"] = 0.85
    return opt


CASES["resume_onecycle"] = case(
    resumed_onecycle, lambda o: L.OneCycleLR(o, 0.1, total_steps=STEPS + 10, last_epoch=9),
    momentum="momentum")


def momentum_of(group, key):
    return group["momentum"] if key == "momentum" else group["betas"][0]


def run(spec):
    opt = spec["opt"]()
    sched = spec["sched"](opt)
    key = spec["momentum"]
    series = {("lr", g): [] for g in range(len(opt.param_groups))}
    if key:
        series.update({(key, g): [] for g in range(len(opt.param_groups))})

    def record():
        for g, group in enumerate(opt.param_groups):
            series[("lr", g)].append(float(group["lr"]))
            if key:
                series[(key, g)].append(float(momentum_of(group, key)))
        assert [float(x) for x in sched.get_last_lr()] == [float(g["lr"]) for g in opt.param_groups]

    record()
    for i in range(STEPS):
        opt.step()
        if spec["metrics"] is not None:
            sched.step(spec["metrics"][i])
        else:
            sched.step()
        record()
    if spec["metrics"] is not None:
        series[("metric", -1)] = list(spec["metrics"])
    return series


def main():
    out = sys.stdout
    out.write("// Generated by tests/golden/generate_schedulers.py; do not edit.\n")
    out.write(f"// torch.__version__ = {torch.__version__}, Python {sys.version.split()[0]}\n")
    out.write("// Each entry: {case, quantity, group, values after construction and after each step}.\n")
    out.write(f'inline constexpr const char* kGoldenTorchVersion = "{torch.__version__}";\n')
    out.write(f"inline constexpr int kGoldenSteps = {STEPS};\n")
    out.write("inline const GoldenSeries kGoldenSeries[] = {\n")
    for name, spec in CASES.items():
        for (quantity, group), values in run(spec).items():
            out.write(f'    {{"{name}", "{quantity}", {group},\n     {{')
            out.write(", ".join(float(v).hex() for v in values))
            out.write("}},\n")
    out.write("};\n")


if __name__ == "__main__":
    main()
