"""Reference values for matmul (tests/test_matmul.cpp): forward and backward in float32 inputs.

Inputs are random float32 tensors; the references are computed by torch in float64 from those exact
float32 values, so a test measures the error of our float32 product alone (torch's own float32 result is
stored too, as `y_torch32`, to show that it is as far from the reference as ours).
Each case stores a, b, a cotangent g, y = a @ b, ga = dL/da and gb = dL/db for L = sum(y * g).

Run: /usr/bin/python3 tests/scripts/gen_matmul.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import save  # noqa: E402

# name -> (shape of a, shape of b, how the C++ test builds the operands from the stored a and b)
CASES = {
    # plain 2-D at odd sizes
    "matmul_2d": ((37, 53), (53, 29), "plain"),
    # batched with broadcast batch dims: (2, 1, 3, 4) x (5, 4, 2) -> (2, 5, 3, 2)
    "matmul_broadcast": ((2, 1, 3, 4), (5, 4, 2), "plain"),
    # 3-D x 3-D, used through transposed views: a is stored (B, k, m) and used as a.transpose(-1, -2),
    # b is stored (B, n, k) and used as b.transpose(-1, -2)
    "matmul_transposed": ((3, 11, 7), (3, 5, 11), "transpose_both"),
    # 1-D operands: vector x matrix, matrix x vector
    "matmul_vec_mat": ((13,), (13, 6), "plain"),
    "matmul_mat_vec": ((6, 13), (13,), "plain"),
}


def main():
    gen = torch.Generator().manual_seed(20240601)
    for name, (sa, sb, mode) in CASES.items():
        a = torch.randn(sa, generator=gen, dtype=torch.float32)
        b = torch.randn(sb, generator=gen, dtype=torch.float32)

        def op(x, y):
            if mode == "transpose_both":
                return x.transpose(-1, -2) @ y.transpose(-1, -2)
            return x @ y

        y32 = op(a, b)
        g = torch.randn(y32.shape, generator=gen, dtype=torch.float32)
        a64 = a.double().requires_grad_()
        b64 = b.double().requires_grad_()
        y = op(a64, b64)
        (y * g.double()).sum().backward()
        save(name, {"a": a, "b": b, "g": g, "y": y.detach(), "ga": a64.grad, "gb": b64.grad, "y_torch32": y32},
             {"mode": mode, "torch": torch.__version__})


if __name__ == "__main__":
    main()
