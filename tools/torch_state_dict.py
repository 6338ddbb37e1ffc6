#!/usr/bin/env python3
"""Converts optimizer checkpoints between torch.save(optimizer.state_dict()) and fusedopt's
safetensors file (NOTE(checkpoint) in include/fusedopt/state_dict.hpp), both ways.

  torch -> fusedopt:  torch_state_dict.py to-fusedopt opt.pt opt.safetensors --optimizer AdamW
  fusedopt -> torch:  torch_state_dict.py to-torch opt.safetensors opt.pt [--shapes shapes.json]

torch's state_dict does not name the optimizer class, so to-fusedopt needs --optimizer (Adam
with decoupled_weight_decay=True becomes AdamW). fusedopt keeps state tensors flat; to-torch
reshapes them to --shapes (a JSON list of shapes in parameter-id order) when given, which torch
needs for parameters of rank > 1.

Differences the conversion bridges:
  * torch-only switches (foreach, fused, capturable, differentiable; decoupled_weight_decay of
    Adam/AdamW) are dropped, and restored from torch's defaults on the way back;
  * torch's SGD counts no steps: a momentum_buffer becomes step 1 (fusedopt only needs to know
    that the buffer exists), and SGD's step is dropped on the way back;
  * ASGD's mu is a function of step and t0: dropped, and recomputed on the way back;
  * state tensors are stored as fp32, except torch's bf16 state (bf16 parameters), which stays
    BF16: fusedopt loads either into its own state dtype (Precision::state_dtype), exactly when
    they agree; to-torch gives BF16 entries back as bfloat16 tensors. torch's load_state_dict
    casts state to the parameter's dtype anyway. mu_product and eta are fp64;
  * fusedopt's master weights ("master_param") and precision keys ("master_weights",
    "stochastic_rounding", "rounding_seed", "state_dtype") have no torch counterpart: to-torch
    drops them (torch continues from the bf16 parameters themselves).

The safetensors reader and writer here need only the standard library; torch is imported only
by the conversions.
"""
import argparse
import json
import struct
import sys

FORMAT = "fusedopt.optimizer"
FORMAT_VERSION = "1"
TORCH_ONLY = {"foreach", "fused", "capturable", "differentiable", "param_names"}
SCALARS = {"mu_product", "eta"}  # 0-d fp64 in the file
DTYPES = {"F32": ("f", 4), "F64": ("d", 8), "F16": ("e", 2), "BF16": ("H", 2)}
PRECISION_KEYS = {"master_weights", "stochastic_rounding", "rounding_seed", "state_dtype"}


def bf16_bits(value):
    """The bf16 bits of a float: round to nearest-even (NaN stays NaN)."""
    (u,) = struct.unpack("<I", struct.pack("<f", value))
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return (u >> 16) | 0x40
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def bf16_value(bits):
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


# ---- safetensors, standard library only -------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    """tensors: {name: (dtype, shape, flat list of numbers)}."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        dtype, shape, values = tensors[name]
        code, size = DTYPES[dtype]
        if dtype == "BF16":
            values = [bf16_bits(v) for v in values]
        blob = struct.pack("<%d%s" % (len(values), code), *values)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """Returns ({name: (dtype, shape, flat list)}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        code, size = DTYPES[entry["dtype"]]
        blob = data[8 + n + begin:8 + n + end]
        values = list(struct.unpack("<%d%s" % (len(blob) // size, code), blob))
        if entry["dtype"] == "BF16":
            values = [bf16_value(b) for b in values]
        tensors[name] = (entry["dtype"], entry["shape"], values)
    return tensors, metadata


def write_fusedopt(path, optimizer, param_groups, state):
    """param_groups: torch-style dicts (options, "params", optional "initial_lr");
    state: {id: {"step": float, name: flat list (tensor, F32), ("BF16", flat list) or float
    (scalar in SCALARS)}}."""
    tensors = {}
    for pid, entry in state.items():
        for key, value in entry.items():
            name = "state.%d.%s" % (pid, key)
            if key == "step":
                tensors[name] = ("F32", [], [float(value)])
            elif key in SCALARS:
                tensors[name] = ("F64", [], [float(value)])
            else:
                dtype, values = value if isinstance(value, tuple) else ("F32", value)
                tensors[name] = (dtype, [len(values)], [float(v) for v in values])
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in param_groups]
    write_safetensors(path, tensors, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                      "optimizer": optimizer, "param_groups": json.dumps(groups)})


def read_fusedopt(path):
    """Returns (optimizer, param_groups, state) as write_fusedopt takes them."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise ValueError("%s is not a fusedopt optimizer checkpoint" % path)
    state = {}
    for name, (dtype, shape, values) in tensors.items():
        _, pid, key = name.split(".", 2)
        value = values[0] if shape == [] else values
        state.setdefault(int(pid), {})[key] = ("BF16", value) if dtype == "BF16" else value
    return metadata["optimizer"], json.loads(metadata["param_groups"]), state


# ---- torch <-> fusedopt -----------------------------------------------------------------------

def torch_class(optimizer):
    import torch
    if optimizer == "Lion" or not hasattr(torch.optim, optimizer):
        raise SystemExit("torch.optim has no %s" % optimizer)
    return getattr(torch.optim, optimizer)


def from_torch(sd, optimizer):
    """torch state_dict -> (optimizer, param_groups, state) for write_fusedopt."""
    import torch
    groups = []
    for g in sd["param_groups"]:
        g = dict(g)
        if optimizer in ("Adam", "AdamW"):
            if g.pop("decoupled_weight_decay", optimizer == "AdamW"):
                optimizer = "AdamW"
        group = {}
        for key, value in g.items():
            if key in TORCH_ONLY:
                continue
            if isinstance(value, (tuple, list)) and key != "params":
                value = [float(v) for v in value]
            elif isinstance(value, int) and not isinstance(value, bool) and key != "params":
                value = float(value)
            group[key] = value
        groups.append(group)
    state = {}
    for pid, entry in sd["state"].items():
        out = {}
        for key, value in entry.items():
            if value is None or key == "mu":
                continue
            if key == "step" or key in SCALARS:
                out[key] = float(value)
            elif value.dtype == torch.bfloat16:  # bf16 state stays bf16 (exact)
                out[key] = ("BF16", value.detach().to("cpu").float().reshape(-1).tolist())
            else:
                out[key] = value.detach().to("cpu").float().reshape(-1).tolist()
        if not out:
            continue
        if optimizer == "SGD" and "step" not in out:
            out["step"] = 1.0
        state[int(pid)] = out
    return optimizer, groups, state


def to_torch(optimizer, param_groups, state, shapes=None):
    """(optimizer, param_groups, state) from read_fusedopt -> a torch state_dict."""
    import torch
    cls = torch_class(optimizer)
    defaults = cls([torch.zeros(1, requires_grad=True)]).param_groups[0]
    groups = []
    for g in param_groups:
        group = {k: v for k, v in g.items() if k not in PRECISION_KEYS}
        for key, value in defaults.items():
            if key not in group and key != "params":
                group[key] = value
        for key, value in list(group.items()):
            if isinstance(value, list) and key != "params":
                group[key] = tuple(value)
        groups.append(group)
    t0 = {pid: g.get("t0") for g in groups for pid in g["params"]}
    out = {}
    for pid, entry in state.items():
        converted = {}
        for key, value in entry.items():
            if key == "master_param":  # no torch counterpart
                continue
            if key == "step":
                if optimizer != "SGD":
                    converted[key] = torch.tensor(float(value), dtype=torch.float32)
            elif key in SCALARS:
                converted[key] = torch.tensor(float(value), dtype=torch.float32)
            else:
                dtype, values = value if isinstance(value, tuple) else ("F32", value)
                t = torch.tensor(values, dtype=torch.bfloat16 if dtype == "BF16" else torch.float32)
                converted[key] = t.reshape(shapes[pid]) if shapes is not None else t
        if optimizer == "ASGD":
            converted["mu"] = torch.tensor(1.0 / max(1.0, float(entry["step"]) - t0[pid]), dtype=torch.float32)
        out[pid] = converted
    return {"state": out, "param_groups": groups}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-fusedopt", help="torch.save'd state_dict -> fusedopt safetensors")
    a.add_argument("source")
    a.add_argument("target")
    a.add_argument("--optimizer", required=True, help="torch.optim class name, e.g. AdamW")
    b = sub.add_parser("to-torch", help="fusedopt safetensors -> torch.save'd state_dict")
    b.add_argument("source")
    b.add_argument("target")
    b.add_argument("--shapes", help="JSON file: the parameters' shapes in id order")
    args = parser.parse_args(argv)
    import torch
    if args.command == "to-fusedopt":
        sd = torch.load(args.source, map_location="cpu", weights_only=True)
        write_fusedopt(args.target, *from_torch(sd, args.optimizer))
    else:
        shapes = None
        if args.shapes:
            with open(args.shapes) as f:
                shapes = [tuple(s) for s in json.load(f)]
        torch.save(to_torch(*read_fusedopt(args.source), shapes=shapes), args.target)


if __name__ == "__main__":
    sys.exit(main())
