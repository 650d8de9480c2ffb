"""Writes reference fixtures for the C++ tests: one JSON file per case, tensors as shape + flat data.

Values are written with full float64 precision (repr), so a float32 tensor round-trips exactly.
Run the generator scripts with Debian's interpreter, which has torch: /usr/bin/python3 tests/scripts/gen_*.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")


def _flat(t):
    import torch

    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        dtype = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.uint8: "uint8"}[t.dtype]
        return {"shape": list(t.shape), "dtype": dtype, "data": t.reshape(-1).tolist()}
    raise TypeError(f"not a tensor: {type(t)}")


def save(name, tensors, meta=None):
    """tensors: dict name -> torch.Tensor; meta: dict of plain JSON values (options used)."""
    os.makedirs(FIXTURES, exist_ok=True)
    out = {"meta": meta or {}, "tensors": {k: _flat(v) for k, v in tensors.items()}}
    path = os.path.join(FIXTURES, name + ".json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", path)
