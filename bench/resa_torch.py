"""The PyTorch twin of the engine's ReSA training step, for reference values and side-by-side timing.

Model, loss and optimizer mirror the engine exactly (parameter names follow torchvision's ResNet, so state
dicts move both ways). Run with Debian's interpreter, which has torch:

    /usr/bin/python3 bench/resa_torch.py --arch resnet18 --batch 64 --threads 2 --steps 5
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- encoder: ResNet with torchvision's names, CIFAR or ImageNet stem, width multiplier ----
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2], 64),
    "resnet34": (BasicBlock, [3, 4, 6, 3], 64),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 64),
    "resnet_small": (BasicBlock, [1, 1, 1, 1], 32),
}


class ResNet(nn.Module):
    def __init__(self, arch="resnet18", in_channels=3, cifar_stem=True, width=None):
        super().__init__()
        block, layers, base = ARCHS[arch]
        w = width or base
        if cifar_stem:
            self.conv1 = nn.Conv2d(in_channels, w, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, w, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        cin = w
        for i, n in enumerate(layers):
            planes = w * (2 ** i)
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if (i > 0 and j == 0) else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_dim = cin

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def projector(in_dim, spec="2048-2048-512"):
    sizes = [int(s) for s in spec.split("-")]
    mods, d = [], in_dim
    for s in sizes[:-1]:
        mods += [nn.Linear(d, s), nn.BatchNorm1d(s), nn.ReLU(inplace=True)]
        d = s
    mods += [nn.Linear(d, sizes[-1]), nn.BatchNorm1d(sizes[-1], affine=False)]
    return nn.Sequential(*mods)


# ---- ReSA ----
@torch.no_grad()
def sinkhorn(scores, eps=0.05, iters=3):
    q = torch.exp(scores / eps).T
    q /= q.sum()
    m = q.shape[0]
    c = torch.ones(m, dtype=q.dtype, device=q.device) / m
    for _ in range(iters):
        q *= (c / q.sum(dim=1)).unsqueeze(1)
        q *= (c / q.sum(dim=0)).unsqueeze(0)
    return (q / q.sum(dim=0, keepdim=True)).T


def cross_entropy(s, a):
    """The official cross_entropy(s, q) of the latest code: rows only, target a."""
    return -(a * F.log_softmax(s, 1)).sum(-1).mean()


class ReSA:
    """Online encoder + projector, EMA teacher; the momentum variant of the official recipe."""

    def __init__(self, arch="resnet18", in_channels=3, mlp="2048-2048-512", tau=0.4, lr=0.3, wd=1e-4):
        self.encoder = ResNet(arch, in_channels)
        self.projector = projector(self.encoder.out_dim, mlp)
        self.t_encoder = ResNet(arch, in_channels)
        self.t_projector = projector(self.encoder.out_dim, mlp)
        self.t_encoder.load_state_dict(self.encoder.state_dict())
        self.t_projector.load_state_dict(self.projector.state_dict())
        for p in list(self.t_encoder.parameters()) + list(self.t_projector.parameters()):
            p.requires_grad_(False)
        self.tau = tau
        params = list(self.encoder.parameters()) + list(self.projector.parameters())
        self.opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)

    @torch.no_grad()
    def ema(self, m):
        for s, t in ((self.encoder, self.t_encoder), (self.projector, self.t_projector)):
            for ps, pt in zip(s.parameters(), t.parameters()):
                pt.mul_(m).add_(ps, alpha=1 - m)

    def loss(self, views, m):
        h = [self.encoder(v) for v in views]
        z = [F.normalize(self.projector(x)) for x in h]
        h0 = F.normalize(h[0]).detach()
        with torch.no_grad():
            self.ema(m)
            ht = [self.t_encoder(v) for v in views[:2]]
            zt = [F.normalize(self.t_projector(x)) for x in ht]
            a = sinkhorn(h0 @ F.normalize(ht[0]).T)
        total, n = 0.0, 0
        for q in range(len(z)):
            for v in range(len(zt)):
                if q != v:
                    total = total + cross_entropy(z[q] @ zt[v].T / self.tau, a)
                    n += 1
        return total / n

    def step(self, views, m=0.996):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(views, m)
        loss.backward()
        self.opt.step()
        return loss.item()


def conv_flops(model, shape):
    """Multiply-adds x 2 of one forward pass, counted with hooks on conv and linear layers."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels
            total[0] += 2 * out.numel() * k
        elif isinstance(mod, nn.Linear):
            total[0] += 2 * out.numel() * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(shape, device=next(model.parameters()).device))
    for h in hs:
        h.remove()
    return total[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--mlp", default="2048-2048-512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true", help="TF32 tensor cores for matmuls and convolutions (CUDA)")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ReSA(args.arch, args.in_channels, args.mlp)
    dev = torch.device(args.device)
    for mod in (model.encoder, model.projector, model.t_encoder, model.t_projector):
        mod.to(dev)
    views = [torch.randn(args.batch, args.in_channels, args.image, args.image, device=dev) for _ in range(2)]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for i in range(args.warmup + args.steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.step(views)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    peak_gpu_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0
    enc = conv_flops(model.encoder, (1, args.in_channels, args.image, args.image))
    # online: 2 views forward + backward (~3x forward); teacher: 2 views forward
    step_flops = args.batch * enc * (2 * 3 + 2)
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "arch": args.arch, "batch": args.batch,
                      "device": args.device, "tf32": args.tf32, "peak_gpu_mb": round(peak_gpu_mb, 1),
                      "threads": args.threads, "ms_per_step": med * 1e3, "images_per_s": args.batch / med,
                      "encoder_gflop_per_image": enc / 1e9, "step_gflop": step_flops / 1e9,
                      "gflops": step_flops / med / 1e9,
                      # ru_maxrss is in KiB on Linux
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
