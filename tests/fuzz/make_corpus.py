#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_load (tests/fuzz/corpus): valid checkpoints for the four
optimizers the target holds (same parameter sizes), with and without state, plus a few
near-misses. Standard library only. Run from anywhere: python3 tests/fuzz/make_corpus.py"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import torch_state_dict as conv  # noqa: E402

OUT = os.path.join(HERE, "corpus")
ADAM = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": True, "maximize": False}


def seeds():
    adam_groups = [dict(ADAM, params=[0, 1]), dict(ADAM, params=[2], initial_lr=0.01)]
    adam_state = {1: {"step": 3.0, "exp_avg": [0.1, 0.2, 0.3], "exp_avg_sq": [1.0, 2.0, 3.0],
                      "max_exp_avg_sq": [1.0, 2.0, 3.0]},
                  2: {"step": 3.0, "exp_avg": [0.0] * 5, "exp_avg_sq": [0.5] * 5, "max_exp_avg_sq": [0.5] * 5},
                  0: {"step": 3.0, "exp_avg": [], "exp_avg_sq": [], "max_exp_avg_sq": []}}
    yield "adam_empty", ("Adam", adam_groups, {})
    yield "adam_state", ("Adam", adam_groups, adam_state)
    nadam = {"lr": 2e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "momentum_decay": 4e-3,
             "decoupled_weight_decay": False, "maximize": False, "params": [0, 1]}
    yield "nadam_state", ("NAdam", [nadam], {0: {"step": 2.0, "mu_product": 0.81, "exp_avg": [0.1] * 4,
                                                  "exp_avg_sq": [0.2] * 4}})
    asgd = {"lr": 1e-2, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "weight_decay": 0.0, "maximize": False,
            "params": [0]}
    yield "asgd_state", ("ASGD", [asgd], {0: {"step": 7.0, "eta": 0.0099, "ax": [0.5, 0.5]}})
    sgd = {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
           "maximize": False, "params": [0, 1]}
    yield "sgd_state", ("SGD", [sgd], {1: {"step": 1.0, "momentum_buffer": [1.0, -1.0, 0.5]}})
    # Near-misses: each fails one check.
    yield "adam_wrong_numel", ("Adam", adam_groups, {1: dict(adam_state[1], exp_avg=[0.1] * 4)})
    yield "adam_bad_lr", ("Adam", [dict(adam_groups[0], lr=-1.0), adam_groups[1]], {})
    yield "sgd_as_adam", ("Adam", [sgd], {})


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (optimizer, groups, state) in seeds():
        conv.write_fusedopt(os.path.join(OUT, name + ".safetensors"), optimizer, groups, state)
    print("wrote %s" % OUT)


if __name__ == "__main__":
    main()
