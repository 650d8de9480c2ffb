"""PyTorch twin of a whole ReSA training run of apps/resa_cifar, built the way the official ReSA CIFAR code
(github.com/winci-ai/resa_cifar) builds it, for side-by-side comparison with our engine (tools/parity.sh).

It takes the same options as our trainer (those that matter for ReSA) and writes OUT/log.jsonl in the same
schema: one "step" line per step, an "eval" line per kNN evaluation and a "final" line. Run it with Debian's
interpreter, which has torch and torchvision:

    /usr/bin/python3 bench/twin_run.py --dataset fashion-mnist --arch resnet_small --width 16 \
        --mlp 512-512-128 --train-subset 20000 --batch-size 128 --epochs 4 --warmup-epochs 1 \
        --eval-every 2 --eval-subset 10000 --probe-epochs 100 --out runs/twin

Read top to bottom: data, model, schedules, one training step (train_step), evaluation, main loop.
"""
import argparse
import copy
import gzip
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image, ImageOps

# ------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)


def read_idx(path):
    """A gzip-compressed IDX file (MNIST format) as a numpy array: images (N, H, W) or labels (N,), uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]  # magic: two zero bytes, the type code (0x08 = uint8), the number of dimensions
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()  # writable


def load_fashion_mnist(folder):
    def split(name):
        x = read_idx(os.path.join(folder, f"{name}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(folder, f"{name}-labels-idx1-ubyte.gz")).astype(np.int64)
        return x, y

    return split("train"), split("t10k")


def solarize(img):
    return ImageOps.solarize(img)  # threshold 128, as the official Solarization class


def make_views(size, mean, std):
    """The two views of the official MultiVisionDataset (src/transform.py): a weak view and one strong
    VisionTransform view (crops_nmb [1], solarization 0.2, no blur)."""
    weak = T.Compose([
        T.RandomResizedCrop(size, scale=(0.2, 1.0)),  # default interpolation: bilinear
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])
    strong = T.Compose([
        T.RandomResizedCrop((size, size), scale=(0.2, 1.0), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),  # saturation and hue are no-ops on 'L'
        T.RandomGrayscale(p=0.2),
        # The official pipeline lists a Gaussian blur with probability 0: never applied, but RandomApply still
        # draws a number, so keeping it keeps the same random stream per image.
        T.RandomApply([T.GaussianBlur(3)], p=0.0),
        T.RandomApply([solarize], p=0.2),
        T.RandomHorizontalFlip(p=0.5),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])
    return [weak, strong]


class TwoViewDataset(torch.utils.data.Dataset):
    """Grayscale images (N, H, W) uint8; an item is the list [weak view, strong view] of one image."""

    def __init__(self, images, transforms):
        self.images, self.transforms = images, transforms

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i])  # mode 'L'
        return [t(img) for t in self.transforms]


def seed_worker(worker_id):
    # The DataLoader already gives each worker the torch seed base_seed + worker_id (base_seed drawn from
    # the loader's seeded generator); derive python's and numpy's from it so every RNG is seeded.
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


# ------------------------------------------------------------------------------------------------------
# Model: ResNet as the official src/resnet.py + src/model.py, with a base width W
# ------------------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def last_bn(self):
        return self.bn2

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3, as torchvision
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def last_bn(self):
        return self.bn3

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


ARCHS = {  # block, blocks per stage, default base width
    "resnet_small": (BasicBlock, [1, 1, 1, 1], 32),
    "resnet18": (BasicBlock, [2, 2, 2, 2], 64),
    "resnet34": (BasicBlock, [3, 4, 6, 3], 64),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 64),
}


class ResNet(nn.Module):
    """CIFAR-stem ResNet: [pad 1] conv3x3 s1 - BN - ReLU (no max-pool), four stages of widths W, 2W, 4W, 8W
    (x4 for bottlenecks), global average pool, flattened feature."""

    def __init__(self, arch, width, in_channels, zero_init_residual, stem_padding):
        super().__init__()
        block, layers, _ = ARCHS[arch]
        # The official ResNet.forward zero-pads the input by one pixel before its stem conv, and keeps doing
        # so after get_encoder swaps in the CIFAR 3x3 stem: 28x28 images give 30x30 feature maps.
        self.padding = nn.ConstantPad2d(1, 0.0) if stem_padding == 2 else nn.Identity()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        cin = width
        for i, n in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                downsample = None
                if stride != 1 or cin != planes * block.expansion:
                    downsample = nn.Sequential(nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False),
                                               nn.BatchNorm2d(planes * block.expansion))
                blocks.append(block(cin, planes, stride, downsample))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_dim = cin

        # torchvision's init, as the official ResNet.__init__ ...
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:  # each residual block starts as the identity
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.constant_(m.last_bn().weight, 0)
        # ... then the official get_encoder replaces the stem conv by a fresh nn.Conv2d: the stem keeps
        # PyTorch's default (kaiming-uniform, a=sqrt(5)) init, not the kaiming-normal above.
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)

    def stem(self, x):
        return self.relu(self.bn1(self.conv1(self.padding(x))))

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def make_projector(in_dim, spec):
    """'512-512-128': Linear-BN-ReLU per hidden size, then Linear and a BatchNorm1d without affine
    parameters (the official get_projector); PyTorch's default inits."""
    sizes = [int(s) for s in spec.split("-")]
    layers, d = [], in_dim
    for h in sizes[:-1]:
        layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
        d = h
    layers += [nn.Linear(d, sizes[-1]), nn.BatchNorm1d(sizes[-1], affine=False)]
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------------------------------
# Schedules and the ReSA loss (official src/utils.py and method/base.py)
# ------------------------------------------------------------------------------------------------------
def cosine_scheduler(base, final, epochs, iters_per_epoch, warmup_epochs=0, start_warmup=0.0):
    """One value per step: a linear warm-up (numpy linspace, its last point equal to base) over
    warmup_epochs, then a half cosine from base down to final over the remaining steps."""
    warmup_iters = warmup_epochs * iters_per_epoch
    warmup = np.linspace(start_warmup, base, warmup_iters) if warmup_epochs > 0 else np.array([])
    iters = np.arange(epochs * iters_per_epoch - warmup_iters)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / max(len(iters), 1)))
    schedule = np.concatenate((warmup, cosine))
    assert len(schedule) == epochs * iters_per_epoch
    return schedule


@torch.no_grad()
def sinkhorn_knopp(scores, eps, iters):
    """Soft self-assignment from a (B x B) similarity matrix, step for step as the official
    sinkhorn_knopp with one process: rows and columns alternately rescaled, columns summing to 1 at the end."""
    q = torch.exp(scores / eps).t()
    k, b = q.shape  # "prototypes" x samples; both are the batch here
    q /= torch.sum(q)
    for _ in range(iters):
        q /= torch.sum(q, dim=1, keepdim=True)
        q /= k
        q /= torch.sum(q, dim=0, keepdim=True)
        q /= b
    q *= b
    return q.t()


def cross_entropy(logits, target):
    """Rows only, as the latest official BaseMethod.cross_entropy."""
    return -torch.sum(target * F.log_softmax(logits, dim=1), dim=-1).mean()


def symmetric_cross_entropy(logits, target):
    """The older official form: rows and columns."""
    return 0.5 * (cross_entropy(logits, target) + cross_entropy(logits.t(), target.t()))


class ReSA:
    """Online encoder + projector trained by SGD; teacher (momentum encoder + projector) = their EMA."""

    def __init__(self, args, in_channels):
        self.encoder = ResNet(args.arch, args.width, in_channels, args.zero_init, args.stem_padding)
        self.projector = make_projector(self.encoder.out_dim, args.mlp)
        self.t_encoder = copy.deepcopy(self.encoder)
        self.t_projector = copy.deepcopy(self.projector)
        for p in self.teacher_parameters():
            p.requires_grad = False
        self.temperature, self.eps, self.iters = args.temperature, args.sinkhorn_eps, args.sinkhorn_iters
        self.ce = cross_entropy if args.loss_sides == 1 else symmetric_cross_entropy

    def online_parameters(self):
        return list(self.encoder.parameters()) + list(self.projector.parameters())

    def teacher_parameters(self):
        return list(self.t_encoder.parameters()) + list(self.t_projector.parameters())

    def train(self, mode=True):
        for m in (self.encoder, self.projector, self.t_encoder, self.t_projector):
            m.train(mode)

    @torch.no_grad()
    def update_teacher(self, m):
        # Parameters only: the teacher's BN running statistics stay its own (official update_momentum_params).
        for ps, pt in zip(self.online_parameters(), self.teacher_parameters()):
            pt.data = pt.data * m + ps.data * (1.0 - m)

    @staticmethod
    def encode(views, encoder, projector):
        """Official ForwardWrapper: each view through the network on its own (batch norm sees one view at a
        time); l2-normalised embeddings and the normalised, detached encoding of view 0."""
        h = [encoder(x) for x in views]
        z = [F.normalize(projector(x)) for x in h]
        return F.normalize(h[0]).detach(), z

    def loss(self, views, m):
        h0, z = self.encode(views, self.encoder, self.projector)
        with torch.no_grad():
            self.update_teacher(m)  # before the teacher's forward, with the online weights of before this step
            h0t, zt = self.encode(views, self.t_encoder, self.t_projector)
            assign = sinkhorn_knopp(h0 @ h0t.t(), self.eps, self.iters)
        total, terms = 0.0, 0
        for q in range(len(z)):  # online view q against teacher view v != q, one target for all pairs
            for v in range(len(zt)):
                if v != q:
                    total = total + self.ce(z[q] @ zt[v].t() / self.temperature, assign)
                    terms += 1
        return total / terms


def train_step(model, optimizer, views, lr, m):
    """One step in the order of the official main.py train loop."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad()
    loss = model.loss(views, m)
    loss.backward()
    optimizer.step()
    return loss.item()


# ------------------------------------------------------------------------------------------------------
# Evaluation (official eval/evaluate.py), on features of un-augmented images
# ------------------------------------------------------------------------------------------------------
@torch.no_grad()
def extract_features(encoder, images, mean, std, batch=1000):
    """Encoder in eval mode (running statistics); ToTensor + Normalize only; batches of 1000."""
    was_training = encoder.training
    encoder.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch]).float().div(255).unsqueeze(1)
        out.append(encoder((x - mean[0]) / std[0]))
    encoder.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def knn_top1(ftr, ytr, fte, yte, classes, k=5, chunk=1000):
    """Official eval_knn: Euclidean distances, majority vote of the k nearest; a tie goes to the smallest
    label (the official unique() sorts the labels and argmax takes the first maximum)."""
    correct = 0
    for i in range(0, len(fte), chunk):
        d = torch.cdist(fte[i:i + chunk], ftr)
        idx = torch.topk(d, k=k, dim=1, largest=False).indices
        votes = F.one_hot(ytr[idx], classes).sum(1)
        correct += (votes.argmax(1) == yte[i:i + chunk]).sum().item()
    return correct / len(fte)


@torch.no_grad()
def weighted_knn_top1(ftr, ytr, fte, yte, classes, k=200, t=0.1, chunk=1000):
    """Cosine similarity of l2-normalised features; each of the k nearest votes exp(sim / t) for its class."""
    ftr, fte = F.normalize(ftr), F.normalize(fte)
    k = min(k, len(ftr))
    correct = 0
    for i in range(0, len(fte), chunk):
        sim, idx = (fte[i:i + chunk] @ ftr.t()).topk(k, dim=1)
        votes = torch.zeros(len(sim), classes).scatter_add_(1, ytr[idx], (sim / t).exp())
        correct += (votes.argmax(1) == yte[i:i + chunk]).sum().item()
    return correct / len(fte)


def linear_probe(xtr, ytr, xte, yte, epochs, seed, batch=1000):
    """Official eval_sgd: a linear layer by Adam with an exponential decay 1e-2 -> 1e-6 over the epochs,
    a fresh permutation each epoch in mini-batches of 1000 (a last partial batch included)."""
    torch.manual_seed(seed)  # the same init and batch order for every encoder probed
    clf = nn.Linear(xtr.shape[1], int(ytr.max().item()) + 1)
    optimizer = torch.optim.Adam(clf.parameters(), lr=1e-2, weight_decay=5e-6)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=(1e-6 / 1e-2) ** (1 / epochs))
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            optimizer.zero_grad()
            criterion(clf(xtr[idx]), ytr[idx]).backward()
            optimizer.step()
        scheduler.step()
    with torch.no_grad():
        top = clf(xte).topk(5, dim=1).indices
    top1 = (top[:, 0] == yte).float().mean().item()
    top5 = (top == yte[:, None]).any(1).float().mean().item()
    return top1, top5


# ------------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch twin of a ReSA run of apps/resa_cifar (official recipe)")
    ap.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist"])
    ap.add_argument("--data", default=FASHION_MNIST_DIR, help="folder of the gzip IDX files")
    ap.add_argument("--train-subset", type=int, default=0, help="0: all; N: a seeded random N training images")
    ap.add_argument("--eval-subset", type=int, default=0, help="0: all; N: the first N train and N test images")
    ap.add_argument("--arch", default="resnet18", choices=sorted(ARCHS))
    ap.add_argument("--width", type=int, default=0, help="0: 64 (32 for resnet_small)")
    ap.add_argument("--mlp", default="2048-2048-512", help="hidden-...-embedding")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--warmup-epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.0, help="base learning rate (0: 0.3 x batch / 256)")
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--momentum", type=float, default=0.996, help="base EMA momentum (cosine to 1)")
    ap.add_argument("--sinkhorn-eps", type=float, default=0.05)
    ap.add_argument("--sinkhorn-iters", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=1, help="epochs between kNN evaluations (0: at the end)")
    ap.add_argument("--probe-epochs", type=int, default=500, help="0: skip the linear probe")
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/twin")
    ap.add_argument("--zero-init-residual", default="auto", choices=["on", "off", "auto"],
                    help="auto: on except for resnet18 and resnet_small (official: arch != 'resnet18')")
    ap.add_argument("--stem-padding", type=int, default=2, choices=[1, 2],
                    help="2: the official extra zero pad of 1 before the padded 3x3 stem; 1: none")
    ap.add_argument("--loss-sides", type=int, default=1, choices=[1, 2],
                    help="1: cross-entropy over rows (latest official); 2: rows and columns (older official)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    ap.add_argument("--verbose", action="store_true", help="print shape, init and schedule checks at start")
    args = ap.parse_args(argv)
    if args.width == 0:
        args.width = ARCHS[args.arch][2]
    if args.lr == 0:
        args.lr = 0.3 * args.batch_size / 256
    args.zero_init = {"on": True, "off": False}.get(args.zero_init_residual,
                                                       args.arch not in ("resnet18", "resnet_small"))
    return args


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def verbose_checks(model, args, size, lr_schedule, momentum_schedule):
    enc = model.encoder
    with torch.no_grad():  # on a copy: a train-mode forward would move the stem BN's running statistics
        stem_out = copy.deepcopy(enc).stem(torch.zeros(2, 1, size, size))
    expect = size + 2 if args.stem_padding == 2 else size
    print(f"[verbose] stem output {tuple(stem_out.shape)} for {size}x{size} input (expected {expect}x{expect})")
    assert stem_out.shape[-1] == expect and stem_out.shape[-2] == expect
    last = [b.last_bn().weight for layer in (enc.layer1, enc.layer2, enc.layer3, enc.layer4) for b in layer]
    zeros = sum(int((w == 0).all()) for w in last)
    ones = sum(int((w == 1).all()) for w in last)
    print(f"[verbose] zero-init residual {'on' if args.zero_init else 'off'}: of {len(last)} blocks' last BN "
          f"weights, {zeros} all 0 and {ones} all 1")
    print(f"[verbose] stem conv std {enc.conv1.weight.std():.4f} (default init; kaiming-normal fan_out would be "
          f"{math.sqrt(2 / (args.width * 9)):.4f})")
    w = args.warmup_epochs * (len(lr_schedule) // args.epochs)
    print(f"[verbose] step 0: lr {lr_schedule[0]:.6f} momentum {momentum_schedule[0]:.6f}; last warm-up step {w}: "
          f"lr {lr_schedule[max(w - 1, 0)]:.6f}; last step: lr {lr_schedule[-1]:.6f} "
          f"momentum {momentum_schedule[-1]:.6f}")


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads if args.threads > 0 else os.cpu_count())
    seed_everything(args.seed)  # as the official main() does before anything else
    os.makedirs(args.out, exist_ok=True)

    # ---- data ----
    (xtr, ytr), (xte, yte) = load_fashion_mnist(args.data)
    mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
    size = xtr.shape[1]
    train_images = xtr
    if args.train_subset > 0:
        train_images = xtr[np.random.RandomState(args.seed).choice(len(xtr), args.train_subset, replace=False)]
    n_eval = args.eval_subset if args.eval_subset > 0 else None
    eval_train_x, eval_train_y = xtr[:n_eval], torch.from_numpy(ytr[:n_eval])
    eval_test_x, eval_test_y = xte[:n_eval], torch.from_numpy(yte[:n_eval])
    classes = int(max(ytr.max(), yte.max())) + 1

    generator = torch.Generator()
    generator.manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        TwoViewDataset(train_images, make_views(size, mean, std)), batch_size=args.batch_size, shuffle=True,
        generator=generator, drop_last=True, num_workers=args.workers, worker_init_fn=seed_worker)
    steps_per_epoch = len(loader)

    # ---- model, optimizer, schedules ----
    model = ReSA(args, in_channels=1)
    optimizer = torch.optim.SGD(model.online_parameters(), lr=0.0, momentum=0.9, weight_decay=args.wd)
    lr_schedule = cosine_scheduler(args.lr, 0.1 * args.lr, args.epochs, steps_per_epoch,
                                   warmup_epochs=args.warmup_epochs)
    momentum_schedule = cosine_scheduler(args.momentum, 1.0, args.epochs, steps_per_epoch)
    total_steps = args.epochs * steps_per_epoch
    stop_at = min(total_steps, args.max_steps) if args.max_steps > 0 else total_steps

    print(f"twin ReSA | {args.arch} width {args.width} mlp {args.mlp} | {len(train_images)} train images, "
          f"{steps_per_epoch} steps/epoch x {args.epochs} epochs (warm-up {args.warmup_epochs}) | batch "
          f"{args.batch_size} lr {args.lr:.4f} wd {args.wd:g} | tau {args.temperature} EMA {args.momentum} "
          f"sinkhorn {args.sinkhorn_eps}/{args.sinkhorn_iters} | zero-init {'on' if args.zero_init else 'off'}, "
          f"stem padding {args.stem_padding}, loss sides {args.loss_sides} | seed {args.seed} | "
          f"{torch.get_num_threads()} threads, {args.workers} workers | out {args.out}", flush=True)
    if args.verbose:
        verbose_checks(model, args, size, lr_schedule, momentum_schedule)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(vars(args), f, indent=1)

    log = open(os.path.join(args.out, "log.jsonl"), "w")

    def write(record):
        log.write(json.dumps(record) + "\n")
        log.flush()

    # Features of the last evaluated step, per encoder: the final evaluation reuses those of an evaluation
    # after the last step instead of encoding the images again.
    feature_cache = {"step": None}

    def features(name, encoder, step):
        if feature_cache["step"] != step:
            feature_cache.clear()
            feature_cache["step"] = step
        if name not in feature_cache:
            feature_cache[name] = (extract_features(encoder, eval_train_x, mean, std),
                                   extract_features(encoder, eval_test_x, mean, std))
        return feature_cache[name]

    encoders = [("teacher", model.t_encoder), ("online", model.encoder)]  # the teacher is the official protocol

    # ---- training ----
    model.train()
    step, train_seconds, window_ms = 0, 0.0, []
    while step < stop_at:
        epoch = step // steps_per_epoch
        batches = iter(loader)
        while step < stop_at and step // steps_per_epoch == epoch:
            t0 = time.perf_counter()
            views = next(batches)
            lr, m = float(lr_schedule[step]), float(momentum_schedule[step])
            loss = train_step(model, optimizer, views, lr, m)
            if not math.isfinite(loss):
                raise SystemExit(f"the loss became {loss} at step {step + 1}")
            step += 1
            ms = 1000 * (time.perf_counter() - t0)
            train_seconds += ms / 1000
            window_ms.append(ms)
            write({"type": "step", "step": step, "epoch": epoch + 1, "loss": loss, "lr": lr, "ema_momentum": m,
                   "ms": ms})
            if step % 50 == 0 or step == stop_at:
                ips = 1000 * args.batch_size * len(window_ms) / sum(window_ms)
                print(f"step {step}/{stop_at} epoch {epoch + 1} loss {loss:.4f} lr {lr:.4f} {ips:.0f} images/s",
                      flush=True)
                window_ms = []
        del batches  # ends this epoch's workers, as a new iterator per epoch does in the official loop
        # kNN after every eval_every epochs and after the last one (only once an epoch is complete, as ours)
        done_epoch = epoch + 1
        if step % steps_per_epoch == 0 and ((args.eval_every > 0 and done_epoch % args.eval_every == 0)
                                            or step >= stop_at):
            acc = {}
            for name, enc in encoders:
                ftr, fte = features(name, enc, step)
                acc[name] = knn_top1(ftr, eval_train_y, fte, eval_test_y, classes)
            write({"type": "eval", "step": step, "epoch": done_epoch, "knn_top1": acc["teacher"],
                   "knn_online_top1": acc["online"]})
            print(f"epoch {done_epoch}: kNN (k=5) top-1 teacher {100 * acc['teacher']:.2f}% "
                  f"online {100 * acc['online']:.2f}%", flush=True)

    # ---- final evaluation ----
    final = {"type": "final"}
    rows = {}
    for name, enc in encoders:
        suffix = "" if name == "teacher" else "_online"
        ftr, fte = features(name, enc, step)
        knn = knn_top1(ftr, eval_train_y, fte, eval_test_y, classes)
        wknn = weighted_knn_top1(ftr, eval_train_y, fte, eval_test_y, classes)
        final[f"knn{suffix}_top1"], final[f"wknn{suffix}_top1"] = knn, wknn
        cells = [f"{100 * knn:.2f}%", f"{100 * wknn:.2f}%", "-", "-"]
        if args.probe_epochs > 0:
            p1, p5 = linear_probe(ftr, eval_train_y, fte, eval_test_y, args.probe_epochs, args.seed)
            final[f"probe{suffix}_top1"], final[f"probe{suffix}_top5"] = p1, p5
            cells[2:] = [f"{100 * p1:.2f}%", f"{100 * p5:.2f}%"]
        rows[name] = cells
    final["train_seconds"] = train_seconds
    final["images_per_s"] = step * args.batch_size / train_seconds if train_seconds > 0 else 0.0
    write(final)
    log.close()

    print(f"\ntrained {step} steps in {train_seconds:.1f} s ({final['images_per_s']:.0f} images/s, without the "
          f"evaluations)")
    print("\n| encoder | kNN k=5 top-1 | weighted kNN k=200 top-1 | linear probe top-1 | top-5 |")
    print("|---|---|---|---|---|")
    for name, label in (("teacher", "teacher (momentum encoder)"), ("online", "online encoder")):
        print(f"| {label}, twin {args.arch} ({args.epochs} epochs) | " + " | ".join(rows[name]) + " |")


if __name__ == "__main__":
    main()
