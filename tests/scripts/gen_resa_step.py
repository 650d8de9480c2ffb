"""One full ReSA training step in PyTorch (both variants) on fixed weights and inputs: the loss, the
gradient of every parameter and the parameters after one SGD step, in float32 and again in float64 from
the same (float32) weights and inputs ("f64." names). The model is bench/resa_torch.py's (torchvision
names), so the C++ test loads these weights with load_state_dict(strict)."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import resa_torch as rt  # noqa: E402
from fixture_io import save  # noqa: E402

torch.manual_seed(11)
B, C, S, WIDTH, MLP, TAU = 6, 1, 10, 4, "16-16-8", 0.4
LR, WD, MOM = 0.3, 1e-4, 0.9


def build():
    enc = rt.ResNet("resnet_small", C, width=WIDTH)
    proj = rt.projector(enc.out_dim, MLP)
    # Non-trivial batch-norm affine parameters, so their gradients are checked too.
    with torch.no_grad():
        for m in list(enc.modules()) + list(proj.modules()):
            if isinstance(m, torch.nn.BatchNorm2d) or (isinstance(m, torch.nn.BatchNorm1d) and m.affine):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return enc, proj


enc, proj = build()
views = [torch.randn(B, C, S, S) for _ in range(2)]
init = {**{"encoder." + k: v.clone() for k, v in enc.state_dict().items()},
        **{"projector." + k: v.clone() for k, v in proj.state_dict().items()}}


def step(variant, dtype=torch.float32):
    e, p = build()
    e.to(dtype)
    p.to(dtype)
    e.load_state_dict({k[8:]: v for k, v in init.items() if k.startswith("encoder.")})
    p.load_state_dict({k[10:]: v for k, v in init.items() if k.startswith("projector.")})
    views_ = [v.to(dtype) for v in views]
    params = list(e.parameters()) + list(p.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=MOM, weight_decay=WD)
    h = [e(v) for v in views_]
    z = [F.normalize(p(x)) for x in h]
    h0 = F.normalize(h[0]).detach()
    if variant == "momentum":
        # The teacher is a copy of the online network at step 0 (EMA with any m leaves it unchanged).
        te, tp = build()
        te.to(dtype)
        tp.to(dtype)
        te.load_state_dict(e.state_dict())
        tp.load_state_dict(p.state_dict())
        with torch.no_grad():
            ht = [te(v) for v in views_]
            zt = [F.normalize(tp(x)) for x in ht]
            a = rt.sinkhorn(h0 @ F.normalize(ht[0]).T)
        pairs = [(q, v) for q in range(2) for v in range(2) if q != v]
        loss = sum(rt.cross_entropy(z[q] @ zt[v].T / TAU, a) for q, v in pairs) / len(pairs)
    else:
        with torch.no_grad():
            a = rt.sinkhorn(h0 @ h0.T)
        loss = rt.cross_entropy(z[0] @ z[1].T / TAU, a)
    opt.zero_grad()
    loss.backward()
    grads = {**{"grad.encoder." + k: v.grad.clone() for k, v in e.named_parameters()},
             **{"grad.projector." + k: v.grad.clone() for k, v in p.named_parameters()}}
    opt.step()
    after = {**{"after.encoder." + k: v.clone() for k, v in e.state_dict().items()},
             **{"after.projector." + k: v.clone() for k, v in p.state_dict().items()}}
    return loss.detach().reshape(1), grads, after


tensors = {"view0": views[0], "view1": views[1], **init}
for variant in ("momentum", "no-momentum"):
    loss, grads, after = step(variant)
    tensors[variant + ".loss"] = loss
    tensors.update({variant + "." + k: v for k, v in {**grads, **after}.items()})
    loss, grads, after = step(variant, torch.float64)
    tensors["f64." + variant + ".loss"] = loss
    tensors.update({"f64." + variant + "." + k: v for k, v in {**grads, **after}.items()})
save("resa_step", tensors, {"batch": B, "channels": C, "size": S, "width": WIDTH, "mlp": MLP, "tau": TAU, "lr": LR,
                            "wd": WD, "momentum": MOM})
