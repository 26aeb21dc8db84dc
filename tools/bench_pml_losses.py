"""Times PML's forward+backward for the loss benchmark rows, on the CPU.

Same cases as benches/losses.rs: N in {128, 256, 1024}, D = 512, float32, labels with 4
samples per class; TripletMarginLoss + BatchHardMiner, MultiSimilarityLoss, ProxyAnchorLoss with
100 and 11,318 classes; ProxyAnchorLoss with 11,318 classes at N = 4096; the matrix product
[N, 512] x [512, 11318] at N 1024 and 4096. Run with the same thread count as the Rust bench,
under any PyTorch with PML (tools/bench_losses.sh uses tools/setup_libtorch.sh's PyTorch 2.11):

    .venv-torch/bin/python tools/bench_pml_losses.py --threads 2

Prints one line per row: name, median milliseconds over the timed iterations.
"""

import argparse
import json
import statistics
import time

import torch
from pytorch_metric_learning import losses, miners


def make_batch(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g)
    labels = torch.arange(n) // 4
    return emb, labels


def time_fn(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def large_rows(d):
    """ProxyAnchor with 11,318 classes at N = 4096, and the plain matrix products, named
    `row@N`."""
    rows = []
    emb4096, labels4096 = make_batch(4096, d, 4096)
    pa = losses.ProxyAnchorLoss(num_classes=11318, embedding_size=d)
    pa_labels = labels4096 % 11318

    def proxy_anchor_4096():
        emb = emb4096.clone().requires_grad_(True)
        pa.zero_grad()
        pa(emb, pa_labels).backward()

    rows.append(("proxy_anchor_c11318@4096", proxy_anchor_4096))
    g = torch.Generator().manual_seed(7)
    proxies = torch.randn(d, 11318, generator=g)
    for n in [1024, 4096]:
        x = torch.randn(n, d, generator=g)
        rows.append((f"matmul_c11318@{n}", lambda x=x: torch.mm(x, proxies)))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    d = 512
    results = {}
    for n in [128, 256, 1024]:
        emb0, labels = make_batch(n, d, n)

        def triplet_batch_hard():
            emb = emb0.clone().requires_grad_(True)
            miner = miners.BatchHardMiner()
            loss = losses.TripletMarginLoss(margin=0.2)(emb, labels, miner(emb, labels))
            loss.backward()

        ms_loss = losses.MultiSimilarityLoss()

        def multi_similarity():
            emb = emb0.clone().requires_grad_(True)
            ms_loss(emb, labels).backward()

        rows = [("triplet_batch_hard", triplet_batch_hard), ("multi_similarity", multi_similarity)]
        for classes in [100, 11318]:
            pa = losses.ProxyAnchorLoss(num_classes=classes, embedding_size=d)
            pa_labels = labels % classes

            def proxy_anchor(pa=pa, pa_labels=pa_labels):
                emb = emb0.clone().requires_grad_(True)
                pa.zero_grad()
                pa(emb, pa_labels).backward()

            rows.append((f"proxy_anchor_c{classes}", proxy_anchor))
        if n == 1024:
            rows.extend(large_rows(d))
        for name, fn in rows:
            n_row = int(name.split("@")[1]) if "@" in name else n
            name = name.split("@")[0]
            iters = args.iters if n_row < 1024 else max(3, args.iters // 2)
            ms = time_fn(fn, 2, iters)
            key = f"{name}/n{n_row}"
            results[key] = ms
            print(f"{key}\t{ms:.2f} ms", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "torch": torch.__version__, "median_ms": results}, f, indent=1)


if __name__ == "__main__":
    main()
