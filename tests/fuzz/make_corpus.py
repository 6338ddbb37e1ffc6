#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_load (tests/fuzz/corpus): valid checkpoints for the four
optimizers the target holds (same parameter sizes), with and without state, a few
near-misses, and hostile files (deep nesting, huge shapes and offsets, long strings, many
tensors), each under the fuzzer's 64 KB input limit. Standard library only. Run from anywhere:
python3 tests/fuzz/make_corpus.py"""
import json
import os
import struct
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


def raw(header, data=b""):
    """A safetensors file from header text, however wrong it is."""
    text = header.encode()
    return struct.pack("<Q", len(text)) + text + data


def checkpoint_header(optimizer, param_groups_text, extra=""):
    meta = {"format": "fusedopt.optimizer", "format_version": "1", "optimizer": optimizer,
            "param_groups": param_groups_text}
    return ('{"__metadata__":%s,"state.1.step":{"dtype":"F32","shape":[],"data_offsets":[0,4]}%s}'
            % (json.dumps(meta), extra))


def hostile_seeds():
    nest = "[" * 20000 + "]" * 20000
    step = struct.pack("<f", 1.0)
    yield "deep_shape", raw('{"state.0.step":{"dtype":"F32","shape":%s,"data_offsets":[0,4]}}' % nest, step)
    yield "deep_metadata", raw('{"__metadata__":{"format":%s}}' % nest)
    yield "deep_param_groups", raw(checkpoint_header("Adam", "[%s]" % nest), step)
    yield "deep_option", raw(checkpoint_header("SGD", '[{"params":[0,1],"lr":%s}]' % nest), step)
    yield "huge_shape", raw('{"a":{"dtype":"F32","shape":[70368744177664],"data_offsets":[0,4]}}', step)
    yield "huge_offsets", raw('{"a":{"dtype":"F32","shape":[1],'
                              '"data_offsets":[18446744073709551612,18446744073709551615]}}', step)
    yield "overflowing_shape", raw('{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],'
                                   '"data_offsets":[0,4]}}', step)
    yield "long_optimizer_name", raw(checkpoint_header("A" * 30000, '[{"params":[0,1]}]'), step)
    yield "long_tensor_name", raw('{"%s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}' % ("s" * 30000), step)
    many = "".join(',"state.%d.step":{"dtype":"F32","shape":[],"data_offsets":[%d,%d]}' % (i, 4 * i, 4 * i + 4)
                   for i in range(2, 800))
    sgd = json.dumps([{"lr": 1e-3, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                       "nesterov": False, "maximize": False, "params": [0, 1]}])
    yield "many_tensors", raw(checkpoint_header("SGD", sgd, many), step * 799)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (optimizer, groups, state) in seeds():
        conv.write_fusedopt(os.path.join(OUT, name + ".safetensors"), optimizer, groups, state)
    for name, data in hostile_seeds():
        assert len(data) <= 65536, name
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(data)
    print("wrote %s" % OUT)


if __name__ == "__main__":
    main()
