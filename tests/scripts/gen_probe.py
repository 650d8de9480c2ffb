"""Reference for the linear probe: full-batch Adam from zero weights with the exponential lr schedule
(as the official ReSA CIFAR evaluation, with one batch so the permutation does not matter)."""
import torch
import torch.nn as nn

from fixture_io import save

torch.manual_seed(3)
n, m, d, c, epochs = 60, 40, 7, 4, 30
centers = torch.randn(c, d, dtype=torch.float64) * 2.0
ytr = torch.randint(0, c, (n,))
yte = torch.randint(0, c, (m,))
xtr = (centers[ytr] + torch.randn(n, d, dtype=torch.float64)).float()
xte = (centers[yte] + torch.randn(m, d, dtype=torch.float64)).float()

lr_start, lr_end, wd = 1e-2, 1e-6, 5e-6
gamma = (lr_end / lr_start) ** (1 / epochs)
clf = nn.Linear(d, c).double()
nn.init.zeros_(clf.weight)
nn.init.zeros_(clf.bias)
opt = torch.optim.Adam(clf.parameters(), lr=lr_start, weight_decay=wd)
sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
for ep in range(epochs):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(clf(xtr.double()), ytr)
    loss.backward()
    opt.step()
    sched.step()
with torch.no_grad():
    scores = clf(xte.double())
top = scores.topk(2, 1).indices
save("probe_adam", {"train_x": xtr, "train_y": ytr, "test_x": xte, "test_y": yte,
                    "weight": clf.weight, "bias": clf.bias, "final_loss": loss.detach().reshape(1),
                    "top1": (top[:, :1] == yte[:, None]).double().sum(1).mean().reshape(1),
                    "top2": (top == yte[:, None]).double().sum(1).mean().reshape(1)},
     {"epochs": epochs, "lr_start": lr_start, "lr_end": lr_end, "weight_decay": wd})
