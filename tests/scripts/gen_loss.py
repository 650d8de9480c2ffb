"""Reference values for tests/test_loss.cpp: softmax, log_softmax, cross-entropy (hard and soft labels)
and l2_normalize, forward and backward, from PyTorch.

Inputs are float32 values; the references are computed in float64 from those exact values, so the
C++ float32 results are held to the true answer (max relative error 1e-5), not to PyTorch's rounding.
Run: /usr/bin/python3 tests/scripts/gen_loss.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import save  # noqa: E402


def f32(t):
    """float32 values, held as float64 for the reference computation."""
    return t.float().double()


def with_grad(t):
    return t.clone().requires_grad_(True)


def softmax_cases(g):
    tensors = {}
    cases = [("a", (5, 7), 1), ("b", (5, 7), 0), ("c", (3, 4, 5), 1), ("d", (3, 4, 5), -1)]
    for name, shape, dim in cases:
        x = f32(torch.randn(shape, generator=g) * 2.0)
        r = f32(torch.randn(shape, generator=g))
        tensors[f"{name}_x"] = x
        tensors[f"{name}_r"] = r
        for fn_name, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
            xv = with_grad(x)
            y = fn(xv, dim)
            (y * r).sum().backward()
            tensors[f"{name}_{fn_name}"] = y.detach()
            tensors[f"{name}_{fn_name}_grad"] = xv.grad
    save("loss_softmax", tensors, {"cases": [[n, list(s), d] for n, s, d in cases]})


def cross_entropy_cases(g):
    N, C = 6, 9
    logits = f32(torch.randn(N, C, generator=g) * 1.5)
    labels = torch.randint(0, C, (N,), generator=g)
    target = f32(torch.softmax(torch.randn(N, C, generator=g), 1))
    lv = with_grad(logits)
    loss = F.cross_entropy(lv, labels)
    loss.backward()
    lv2, tv = with_grad(logits), with_grad(target)
    soft = -(tv * torch.log_softmax(lv2, 1)).sum(1).mean()
    soft.backward()
    save("loss_cross_entropy", {
        "logits": logits, "labels": labels, "target": target,
        "loss": loss.detach(), "grad_logits": lv.grad,
        "soft_loss": soft.detach(), "soft_grad_logits": lv2.grad, "soft_grad_target": tv.grad,
    })


def l2_normalize_cases(g):
    tensors = {}
    # c: small rows against a large eps, so some norms are clamped (the gradient is then g / eps).
    cases = [("a", (5, 7), 1, 1e-12, 1.0), ("b", (5, 7), 0, 1e-12, 1.0), ("c", (6, 3), 1, 0.2, 0.1)]
    for name, shape, dim, eps, scale in cases:
        x = f32(torch.randn(shape, generator=g) * scale)
        r = f32(torch.randn(shape, generator=g))
        xv = with_grad(x)
        y = F.normalize(xv, dim=dim, eps=eps)
        (y * r).sum().backward()
        tensors.update({f"{name}_x": x, f"{name}_r": r, f"{name}_y": y.detach(), f"{name}_grad": xv.grad})
    save("loss_l2_normalize", tensors, {"cases": [[n, list(s), d, e] for n, s, d, e, _ in cases]})


def large_logit_cases(g):
    # Logits of magnitude ~1e4: a row near +1e4, a row near -1e4, rows spread over +-1e4.
    N, C = 4, 6
    logits = torch.randn(N, C, generator=g) * 3.0
    logits[0] += 1e4
    logits[1] -= 1e4
    logits[2:] = torch.randn(2, C, generator=g) * 1e4
    logits = f32(logits)
    labels = torch.randint(0, C, (N,), generator=g)
    target = f32(torch.softmax(torch.randn(N, C, generator=g), 1))
    r = f32(torch.randn(N, C, generator=g))
    out = {"logits": logits, "labels": labels, "target": target, "r": r}
    for fn_name, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        xv = with_grad(logits)
        y = fn(xv, 1)
        (y * r).sum().backward()
        out[fn_name] = y.detach()
        out[fn_name + "_grad"] = xv.grad
    xv = with_grad(logits)
    loss = F.cross_entropy(xv, labels)
    loss.backward()
    out["loss"], out["grad_logits"] = loss.detach(), xv.grad
    xv, tv = with_grad(logits), with_grad(target)
    soft = -(tv * torch.log_softmax(xv, 1)).sum(1).mean()
    soft.backward()
    out["soft_loss"], out["soft_grad_logits"], out["soft_grad_target"] = soft.detach(), xv.grad, tv.grad
    save("loss_large_logits", out)


if __name__ == "__main__":
    g = torch.Generator().manual_seed(20240611)
    softmax_cases(g)
    cross_entropy_cases(g)
    l2_normalize_cases(g)
    large_logit_cases(g)
