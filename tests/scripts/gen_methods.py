"""Reference values for the baseline losses in resa/methods/{simclr,byol,swav,vicreg}
(run: /usr/bin/python3 tests/scripts/gen_methods.py).

Each loss is re-stated in PyTorch, float64, the way the methods' public code writes it:
  SimCLR: NT-Xent with the self-similarity masked to -inf and F.cross_entropy on the positive's index;
  BYOL:   2 - 2 * cos(p, z') per direction (F.normalize), summed over the two directions, with the
          predictor Linear-BN-ReLU-Linear in training mode;
  SwAV:   the official `distributed_sinkhorn` (one process) on Q = exp(out / eps).t() and the swapped
          prediction -mean(sum(q * log_softmax(x / T))) averaged over views and assigned crops;
  VICReg: F.mse_loss, sqrt(var + 1e-4), off-diagonal covariance / d, as the paper's equation.
The fixtures hold the inputs, the loss and its gradients w.r.t. the embeddings and the extra weights.
"""
import torch
import torch.nn.functional as F

from fixture_io import save

torch.manual_seed(0)
D = torch.float64


def grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


# ---------------------------------------------------------------- SimCLR
def simclr_ref(z0, z1, t):
    b = z0.shape[0]
    z = F.normalize(torch.cat([z0, z1]), dim=1)
    s = z @ z.T / t
    s = s.masked_fill(torch.eye(2 * b, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    return F.cross_entropy(s, labels)


z0 = torch.randn(6, 5, dtype=D, requires_grad=True)
z1 = (z0.detach() + 0.5 * torch.randn(6, 5, dtype=D)).requires_grad_()
loss = simclr_ref(z0, z1, 0.2)
g0, g1 = grads(loss, [z0, z1])
save("methods_simclr", {"z0": z0, "z1": z1, "loss": loss, "grad_z0": g0, "grad_z1": g1}, {"temperature": 0.2})


# ---------------------------------------------------------------- BYOL
class Predictor(torch.nn.Sequential):
    def __init__(self, e, h):
        super().__init__(torch.nn.Linear(e, h), torch.nn.BatchNorm1d(h), torch.nn.ReLU(), torch.nn.Linear(h, e))


def byol_dir(p, z):
    return 2 - 2 * (F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(dim=1).mean()


E, H, B = 5, 7, 6
pred = Predictor(E, H).double()
with torch.no_grad():  # non-trivial batch-norm affine parameters
    pred[1].weight.uniform_(0.5, 1.5)
    pred[1].bias.uniform_(-0.2, 0.2)
state0 = {k: v.clone() for k, v in pred.state_dict().items()}
z0 = torch.randn(B, E, dtype=D, requires_grad=True)
z1 = torch.randn(B, E, dtype=D, requires_grad=True)
zt0 = torch.randn(B, E, dtype=D)
zt1 = torch.randn(B, E, dtype=D)
pred.train()
p0, p1 = pred(z0), pred(z1)
loss = byol_dir(p0, zt1) + byol_dir(p1, zt0)
params = dict(pred.named_parameters())
names = list(params)
gs = grads(loss, [z0, z1] + [params[n] for n in names])
tensors = {"z0": z0, "z1": z1, "zt0": zt0, "zt1": zt1, "loss": loss, "grad_z0": gs[0], "grad_z1": gs[1]}
for n, g in zip(names, gs[2:]):
    tensors["grad.predictor." + n] = g
for k, v in state0.items():
    tensors["predictor." + k] = v
# The loss on fixed predictions too (no predictor), for the loss function alone.
pa = torch.randn(B, E, dtype=D, requires_grad=True)
pb = torch.randn(B, E, dtype=D, requires_grad=True)
loss_p = byol_dir(pa, zt1) + byol_dir(pb, zt0)
ga, gb = grads(loss_p, [pa, pb])
tensors.update({"p0": pa, "p1": pb, "loss_p": loss_p, "grad_p0": ga, "grad_p1": gb})
save("methods_byol", tensors, {"embed": E, "hidden": H})


# ---------------------------------------------------------------- SwAV
def distributed_sinkhorn(out, eps, iters):
    # The official SwAV function with world_size 1.
    with torch.no_grad():
        Q = torch.exp(out / eps).t()  # K x B
        B = Q.shape[1]
        K = Q.shape[0]
        Q /= torch.sum(Q)
        for _ in range(iters):
            Q /= torch.sum(Q, dim=1, keepdim=True)
            Q /= K
            Q /= torch.sum(Q, dim=0, keepdim=True)
            Q /= B
        Q *= B
        return Q.t()


def swav_ref(z0, z1, w, t, eps, iters):
    outs = [F.normalize(z, dim=1) @ w.t() for z in (z0, z1)]
    codes = [distributed_sinkhorn(o.detach(), eps, iters) for o in outs]
    loss = 0
    for i in range(2):
        sub = 0
        for v in range(2):
            if v == i:
                continue
            sub = sub - torch.mean(torch.sum(codes[i] * F.log_softmax(outs[v] / t, dim=1), dim=1))
        loss = loss + sub / 1
    return loss / 2, outs, codes


B, E, K = 8, 5, 7
z0 = torch.randn(B, E, dtype=D, requires_grad=True)
z1 = (z0.detach() + 0.7 * torch.randn(B, E, dtype=D)).requires_grad_()
w = F.normalize(torch.randn(K, E, dtype=D), dim=1).requires_grad_()
loss, outs, codes = swav_ref(z0, z1, w, 0.1, 0.05, 3)
g0, g1, gw = grads(loss, [z0, z1, w])
save("methods_swav",
     {"z0": z0, "z1": z1, "prototypes": w, "loss": loss, "grad_z0": g0, "grad_z1": g1, "grad_prototypes": gw,
      "scores0": outs[0], "scores1": outs[1], "codes0": codes[0], "codes1": codes[1]},
     {"temperature": 0.1, "eps": 0.05, "iters": 3})


# ---------------------------------------------------------------- VICReg
def off_diagonal(x):
    n = x.shape[0]
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def vicreg_ref(x, y, sim=25.0, var=25.0, cov=1.0):
    b, d = x.shape
    repr_loss = F.mse_loss(x, y)
    xc = x - x.mean(dim=0)
    yc = y - y.mean(dim=0)
    std_x = torch.sqrt(xc.var(dim=0) + 0.0001)
    std_y = torch.sqrt(yc.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) + torch.mean(F.relu(1 - std_y))
    cov_x = (xc.T @ xc) / (b - 1)
    cov_y = (yc.T @ yc) / (b - 1)
    cov_loss = off_diagonal(cov_x).pow(2).sum() / d + off_diagonal(cov_y).pow(2).sum() / d
    return sim * repr_loss + var * std_loss + cov * cov_loss, repr_loss, std_loss, cov_loss


B, E = 9, 6
scale = torch.tensor([0.3, 0.6, 0.9, 1.4, 2.0, 0.5], dtype=D)  # some dims below std 1 (hinge active), some above
z0 = (torch.randn(B, E, dtype=D) * scale).requires_grad_()
z1 = (z0.detach() + 0.4 * torch.randn(B, E, dtype=D)).requires_grad_()
loss, inv, vr, cv = vicreg_ref(z0, z1)
g0, g1 = grads(loss, [z0, z1])
save("methods_vicreg",
     {"z0": z0, "z1": z1, "loss": loss, "invariance": inv, "variance": vr, "covariance": cv, "grad_z0": g0,
      "grad_z1": g1},
     {"sim": 25.0, "var": 25.0, "cov": 1.0})
