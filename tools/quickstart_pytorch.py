"""The quickstart recipe (examples/quickstart.rs) in PyTorch + pytorch-metric-learning: the peer
that tools/bench_quickstart.sh runs side by side with dml.

Same data split (Fashion-MNIST classes 0-4 of the train files for training, classes 5-9 of the
t10k files for retrieval), same model (3 x conv3x3-BN-ReLU, 2x2 max pools after the first two,
GAP + GMP, linear 128 -> 64 with Kaiming-normal fan-out weights and zero bias, L2-normalized for
retrieval), same loss (PML ProxyAnchorLoss, alpha 32, margin 0.1), same optimizer (AdamW lr 1e-3,
weight decay 1e-4, proxies at lr x100, gradients clipped at 10 by value), same schedule (cosine
over the 2 epochs, stepped per epoch), batch 128 of shuffled images with the last partial batch
dropped, and the same evaluation (cosine, self-retrieval, Recall@1/2/4/8 and MAP@R).

Prints one line per epoch with the training images per second, then a final JSON line.
    python3 tools/quickstart_pytorch.py [--data-dir DIR] [--epochs 2] [--threads 2] [--seed 0]
"""

import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pytorch_metric_learning import losses

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{stem}[.gz] not found in {data_dir}: install dataset-fashion-mnist")


def split(data_dir, prefix, classes):
    images = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    keep = np.isin(labels, classes)
    x = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - MEAN) / STD
    y = torch.from_numpy(labels[keep] - min(classes))
    return x, y


class SmallCnn(nn.Module):
    def __init__(self, embedding_size=64):
        super().__init__()
        chans = [1, 32, 64, 128]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(3))
        self.bns = nn.ModuleList(nn.BatchNorm2d(chans[i + 1]) for i in range(3))
        self.linear = nn.Linear(128, embedding_size)
        nn.init.kaiming_normal_(self.linear.weight, mode="fan_out")
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        for i in range(3):
            x = F.relu(self.bns[i](self.convs[i](x)))
            if i < 2:
                x = F.max_pool2d(x, 2, 2)
        pooled = x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))
        return self.linear(pooled)


@torch.no_grad()
def retrieval(model, x, y, ks=(1, 2, 4, 8), batch=128):
    model.eval()
    e = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    e = F.normalize(e, dim=1)
    sim = e @ e.T
    sim.fill_diagonal_(-float("inf"))
    counts = torch.bincount(y)
    r = counts[y] - 1
    top = sim.topk(int(r.max()), dim=1).indices
    hits = (y[top] == y[:, None]).float()
    out = {f"recall@{k}": hits[:, :k].amax(dim=1).mean().item() for k in ks}
    within = torch.arange(top.shape[1])[None, :] < r[:, None]
    hits = hits * within
    precision = hits.cumsum(1) / torch.arange(1, top.shape[1] + 1)[None, :]
    out["map@r"] = ((precision * hits).sum(1) / r.clamp(min=1)).mean().item()
    model.train()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    start = time.perf_counter()
    xtr, ytr = split(a.data_dir, "train", [0, 1, 2, 3, 4])
    xte, yte = split(a.data_dir, "t10k", [5, 6, 7, 8, 9])
    model = SmallCnn()
    loss_fn = losses.ProxyAnchorLoss(num_classes=5, embedding_size=64, margin=0.1, alpha=32)
    opt = torch.optim.AdamW(
        [{"params": model.parameters(), "lr": 1e-3},
         {"params": loss_fn.parameters(), "lr": 1e-1}],
        lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
    before = retrieval(model, xte, yte)
    steps = len(xtr) // a.batch_size
    rates = []
    for epoch in range(a.epochs):
        order = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        total = 0.0
        for s in range(steps):
            idx = order[s * a.batch_size:(s + 1) * a.batch_size]
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_value_(list(model.parameters()) + list(loss_fn.parameters()), 10.0)
            opt.step()
            total += loss.item()
        rate = steps * a.batch_size / (time.perf_counter() - t0)
        rates.append(rate)
        sched.step()
        print(f"epoch {epoch + 1}: loss {total / steps:.4f}, {rate:.0f} images/s", flush=True)
    after = retrieval(model, xte, yte)
    print(json.dumps({
        "peer": f"PyTorch {torch.__version__} + pytorch-metric-learning "
                f"{__import__('pytorch_metric_learning').__version__}",
        "threads": a.threads, "images_per_s": rates, "untrained": before, "trained": after,
        "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
