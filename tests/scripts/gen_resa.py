"""Reference values for resa/sinkhorn and resa/methods/resa_loss (run: /usr/bin/python3 tests/scripts/gen_resa.py).

The reference re-states the official ReSA code (methods/base.py: sinkhorn, cross_entropy, ForwardWrapper's
F.normalize; methods/resa.py and resa_plain.py: the pair loops) in float64, in linear space as the official
code does it, independently of the C++ (which works in log space).
"""
import torch
import torch.nn.functional as F

from fixture_io import save

torch.manual_seed(0)
D = torch.float64


def sinkhorn_official(scores, eps=0.05, niters=3):
    # Works on Q = exp(S/eps)^T, as the official code; generalised to (m, k) SwAV-style (rows of Q^T
    # are the k columns of S and sum to 1/k, columns of Q^T sum to 1/m).
    Q = torch.exp(scores / eps).T
    Q = Q / Q.sum()
    k, m = Q.shape
    for _ in range(niters):
        Q = Q * ((1.0 / k) / Q.sum(dim=1)).unsqueeze(1)
        Q = Q * ((1.0 / m) / Q.sum(dim=0)).unsqueeze(0)
    return (Q / Q.sum(dim=0, keepdim=True)).T


def sinkhorn_logspace(scores, eps=0.05, niters=3):
    # For inputs where exp(S/eps) overflows float64: the same steps on log Q.
    lq = scores / eps
    lq = lq - torch.logsumexp(lq.reshape(-1), 0)
    m, k = lq.shape
    for _ in range(niters):
        lq = lq - torch.logsumexp(lq, 0, keepdim=True) - torch.log(torch.tensor(float(k), dtype=D))
        lq = lq - torch.logsumexp(lq, 1, keepdim=True) - torch.log(torch.tensor(float(m), dtype=D))
    lq = lq - torch.logsumexp(lq, 1, keepdim=True)
    return torch.exp(lq)


def cross_entropy_official(s, q, symmetric=False):
    # The latest official code keeps the row term only; its first releases averaged both sides.
    a = torch.sum(q * F.log_softmax(s, dim=1), dim=-1).mean()
    if not symmetric:
        return -a
    b = torch.sum(q.T * F.log_softmax(s.T, dim=1), dim=-1).mean()
    return -(a + b) / 2


def cosine_scores(m, k, d=6):
    a = F.normalize(torch.randn(m, d, dtype=D), dim=1)
    b = F.normalize(torch.randn(k, d, dtype=D), dim=1)
    return a @ b.T


# ---- Sinkhorn ----
cases = {}
meta = {"cases": []}
for name, (m, k, eps, iters) in {
    "sq7": (7, 7, 0.05, 3),
    "rect9x5": (9, 5, 0.05, 3),
    "rect4x6": (4, 6, 0.1, 3),
    "sq11_it1": (11, 11, 0.05, 1),
    "sq5_it0": (5, 5, 0.05, 0),
    "sq8_it50": (8, 8, 0.05, 50),
}.items():
    s = cosine_scores(m, k)
    cases[name + "_S"] = s
    cases[name + "_A"] = sinkhorn_official(s, eps, iters)
    meta["cases"].append({"name": name, "eps": eps, "iters": iters})
# Scores up to 1e3 in magnitude: the official form overflows, so the reference is log-space float64.
s = (torch.rand(6, 6, dtype=D) * 2 - 1) * 1000
cases["wide_S"] = s
cases["wide_A"] = sinkhorn_logspace(s, 0.05, 3)
assert torch.allclose(sinkhorn_logspace(cases["sq7_S"]), cases["sq7_A"], rtol=1e-10, atol=1e-14)
save("resa_sinkhorn", cases, meta)


# ---- ReSA loss, momentum variant (3 online views, teacher on the first 2, as with multi-crop) ----
def loss_momentum(h0, h0t, zs, zts, tau, symmetric=False):
    with torch.no_grad():
        A = sinkhorn_official(F.normalize(h0) @ F.normalize(h0t).T)
    zs = [F.normalize(z) for z in zs]
    zts = [F.normalize(z) for z in zts]
    total, n = 0, 0
    for q in range(len(zs)):
        for v in range(len(zts)):
            if q == v:
                continue
            total = total + cross_entropy_official(zs[q] @ zts[v].T / tau, A, symmetric)
            n += 1
    return total / n, A


def loss_free(h0, zs, tau, symmetric=False):
    with torch.no_grad():
        hn = F.normalize(h0)
        A = sinkhorn_official(hn @ hn.T)
    zs = [F.normalize(z) for z in zs]
    total, n = 0, 0
    for q in range(len(zs) - 1):
        for v in range(q + 1, len(zs)):
            total = total + cross_entropy_official(zs[q] @ zs[v].T / tau, A, symmetric)
            n += 1
    return total / n, A


m, d, e, tau = 10, 7, 5, 0.4
h_base = torch.randn(m, d, dtype=D)
h0 = (h_base + 0.3 * torch.randn(m, d, dtype=D)).requires_grad_()
h0t = (h_base + 0.3 * torch.randn(m, d, dtype=D)).requires_grad_()
zs = [torch.randn(m, e, dtype=D).requires_grad_() for _ in range(3)]
zts = [torch.randn(m, e, dtype=D).requires_grad_() for _ in range(2)]
loss, A = loss_momentum(h0, h0t, zs, zts, tau)
loss.backward()
t = {"h0": h0, "h0t": h0t, "loss": loss.reshape(1), "A": A}
for i, z in enumerate(zs):
    t[f"z{i}"] = z
    t[f"grad_z{i}"] = z.grad
for i, z in enumerate(zts):
    t[f"zt{i}"] = z
    t[f"grad_zt{i}"] = z.grad
assert h0.grad is None and h0t.grad is None  # A carries no gradient
loss_sym, _ = loss_momentum(h0, h0t, zs, zts, tau, symmetric=True)
t["loss_sym"] = loss_sym.detach().reshape(1)
save("resa_loss_momentum", t, {"tau": tau, "eps": 0.05, "iters": 3, "online_views": 3, "teacher_views": 2})

# ---- ReSA loss, momentum-free variant (2 views) ----
h0 = torch.randn(m, d, dtype=D).requires_grad_()
zs = [torch.randn(m, e, dtype=D).requires_grad_() for _ in range(2)]
loss, A = loss_free(h0, zs, tau)
loss.backward()
t = {"h0": h0, "loss": loss.reshape(1), "A": A}
for i, z in enumerate(zs):
    t[f"z{i}"] = z
    t[f"grad_z{i}"] = z.grad
assert h0.grad is None
save("resa_loss_free", t, {"tau": tau, "eps": 0.05, "iters": 3, "views": 2})
