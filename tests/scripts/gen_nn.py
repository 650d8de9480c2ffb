"""Reference values for the nn layer tests (tests/test_nn.cpp, test_optim.cpp, test_resnet.cpp).

Run: /usr/bin/python3 tests/scripts/gen_nn.py   (writes tests/fixtures/nn_*.json and nn_*.safetensors)
"""
import math
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FIXTURES, save  # noqa: E402
from torch_roundtrip import randomize_bn, write_st  # noqa: E402

torch.manual_seed(0)
D = torch.float64


def layer_case(name, module, x, meta=None, train=True):
    """Forward, backward (upstream gradient g) and parameters/buffers of one module."""
    module = module.to(D)
    module.train(train)
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    x = x.clone().requires_grad_(True)
    y = module(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t = {"x": x, "y": y, "g": g, "dx": x.grad}
    for k, v in state.items():
        t["p." + k] = v if v.dtype != torch.int64 else v.reshape(1)
    for k, p in module.named_parameters():
        t["grad." + k] = p.grad
    for k, b in module.named_buffers():
        t["after." + k] = b if b.dtype != torch.int64 else b.reshape(1)
    save(name, t, meta or {})


def layers():
    layer_case("nn_linear", torch.nn.Linear(5, 3), torch.randn(4, 5, dtype=D))
    layer_case("nn_conv2d", torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 7, 6, dtype=D),
               {"in": 3, "out": 4, "k": 3, "stride": 2, "padding": 1})
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    layer_case("nn_bn2d_train", bn, torch.randn(4, 3, 5, 5, dtype=D) * 2 + 1)
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
    layer_case("nn_bn2d_eval", bn, torch.randn(2, 3, 4, 4, dtype=D), train=False)
    layer_case("nn_bn1d_noaffine", torch.nn.BatchNorm1d(6, affine=False), torch.randn(5, 6, dtype=D) * 3)
    layer_case("nn_maxpool", torch.nn.MaxPool2d(3, 2, 1), torch.randn(2, 3, 9, 8, dtype=D))
    layer_case("nn_avgpool", torch.nn.AdaptiveAvgPool2d(1), torch.randn(2, 3, 5, 7, dtype=D))


def projector():
    # ReSA projector "6-6-4" on 5 inputs: (Linear, BN, ReLU) x 2, Linear, BN(affine=False).
    m = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(),
                            torch.nn.Linear(6, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(),
                            torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4, affine=False)).to(D)
    x = torch.randn(7, 5, dtype=D, requires_grad=True)
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    h0 = m[:3](x)
    h1 = m[3:6](h0)
    y = m[6:](h1)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t = {"x": x, "y": y, "g": g, "dx": x.grad, "h0": h0, "h1": h1}
    for k, v in state.items():
        if v.dtype != torch.int64:
            t["p." + k] = v
    for k, p in m.named_parameters():
        t["grad." + k] = p.grad
    save("nn_projector", t, {"spec": "6-6-4", "in": 5})


def loss_fn(ps, c):
    # A fixed smooth loss with distinct curvature per element, reproduced in the C++ test.
    return sum(((p - 0.5) ** 2 * cc).sum() + 0.1 * (p ** 4).sum() for p, cc in zip(ps, c))


def lars_step(params, state, lr, momentum, wd, eta):
    # Reference LARS (the formula documented in nn/optim/optimizer.h): 1-D params are excluded.
    for i, p in enumerate(params):
        d = p.grad.clone()
        if p.dim() > 1:
            d = d + wd * p
            pn, dn = p.norm(), d.norm()
            q = eta * pn / dn if (pn > 0 and dn > 0) else 1.0
            d = d * q
        mu = state.setdefault(i, torch.zeros_like(p))
        mu.mul_(momentum).add_(d)
        p.sub_(lr * mu)


def optim_case(name, make, steps=20, lars=None):
    g = torch.Generator().manual_seed(3)
    p0 = [torch.randn(3, 4, generator=g, dtype=D), torch.randn(4, generator=g, dtype=D)]
    c = [torch.rand(3, 4, generator=g, dtype=D) + 0.5, torch.rand(4, generator=g, dtype=D) + 0.5]
    ps = [p.clone().requires_grad_(True) for p in p0]
    opt = make(ps) if make else None
    st = {}
    traj = [[], []]
    for _ in range(steps):
        for p in ps:
            p.grad = None
        loss_fn(ps, c).backward()
        if opt:
            opt.step()
        else:
            with torch.no_grad():
                lars_step(ps, st, **lars)
        for i, p in enumerate(ps):
            traj[i].append(p.detach().clone())
    save(name, {"w0": p0[0], "b0": p0[1], "cw": c[0], "cb": c[1],
                "w_traj": torch.stack(traj[0]), "b_traj": torch.stack(traj[1])}, {"steps": steps})


def optimizers():
    optim_case("nn_optim_sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2))
    optim_case("nn_optim_sgd_nesterov",
               lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4))
    optim_case("nn_optim_sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3))
    optim_case("nn_optim_lars", None, lars=dict(lr=0.1, momentum=0.9, wd=1e-2, eta=0.1))
    optim_case("nn_optim_adam", lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.9, 0.99), weight_decay=1e-2))
    optim_case("nn_optim_adamw", lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.85, 0.995), weight_decay=0.1))


class WideResNet18(torchvision.models.ResNet):
    """torchvision's ResNet-18 module tree (same names) at a reduced base width, CIFAR stem."""

    def __init__(self, width):
        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
        self.inplanes = width
        self.conv1 = torch.nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.maxpool = torch.nn.Identity()
        self.layer1 = self._make_layer(torchvision.models.resnet.BasicBlock, width, 2)
        self.layer2 = self._make_layer(torchvision.models.resnet.BasicBlock, width * 2, 2, stride=2)
        self.layer3 = self._make_layer(torchvision.models.resnet.BasicBlock, width * 4, 2, stride=2)
        self.layer4 = self._make_layer(torchvision.models.resnet.BasicBlock, width * 8, 2, stride=2)
        self.fc = torch.nn.Identity()


def resnet():
    gen = torch.Generator().manual_seed(5)
    m = WideResNet18(8)  # width multiplier 0.125: ~0.7 MB of float32 weights
    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
    randomize_bn(m, gen)
    write_st(os.path.join(FIXTURES, "nn_resnet18_w8.safetensors"), m.state_dict(), {"arch": "resnet18", "width": "8"})
    x = torch.randn(2, 3, 32, 32, generator=gen)
    m.eval()
    with torch.no_grad():
        y_eval = m(x)
    m.train()
    with torch.no_grad():
        y_train = m(x)
    save("nn_resnet18_w8", {"x": x, "y_eval": y_eval, "y_train": y_train,
                            "after.bn1.running_mean": m.bn1.running_mean,
                            "after.layer4.1.bn2.running_var": m.layer4[1].bn2.running_var},
         {"width_multiplier": 0.125})
    print("resnet18 w8 params:", sum(p.numel() for p in m.parameters()))


if __name__ == "__main__":
    layers()
    projector()
    optimizers()
    resnet()
