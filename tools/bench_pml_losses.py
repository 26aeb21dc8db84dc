"""Times PML's forward+backward for the loss benchmark rows, on the CPU.

Same cases as benches/losses.rs: N in {128, 256, 1024}, D = 512, float32, labels with 4
samples per class; TripletMarginLoss + BatchHardMiner, MultiSimilarityLoss, ProxyAnchorLoss with
100 and 11,318 classes. Run with the same thread count as the Rust bench:

    bash tools/setup_python.sh
    PYTHONPATH=.pydeps /usr/bin/python3 tools/bench_pml_losses.py --threads 2

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
        for name, fn in rows:
            iters = args.iters if n < 1024 else max(3, args.iters // 2)
            ms = time_fn(fn, 2, iters)
            key = f"{name}/n{n}"
            results[key] = ms
            print(f"{key}\t{ms:.2f} ms", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "torch": torch.__version__, "median_ms": results}, f, indent=1)


if __name__ == "__main__":
    main()
