#!/usr/bin/env python3
"""PyTorch counterpart of crates/dml-backbones/examples/bench_resnet50.rs.

ResNet50 (torchvision, no fc) forward (eval, no_grad) and forward+backward (train mode, loss =
mean of squared pooled features) at 224x224, ms/iter after one warm-up iteration.

Usage: /usr/bin/python3 tools/bench_torch_resnet50.py [--threads 2] [--device cpu|cuda]
       [--iters 3] [BATCH ...]   (default batches: 8 32)
"""
import argparse
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("batches", nargs="*", type=int, default=[8, 32])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}, "
          f"{a.iters} timed iterations")
    print("| batch | forward ms/iter | forward+backward ms/iter |")
    print("| --- | --- | --- |")
    for b in a.batches:
        m = torchvision.models.resnet50()
        m.fc = torch.nn.Identity()
        m = m.to(dev)
        x = torch.randn(b, 3, 224, 224, device=dev)

        def fwd():
            with torch.no_grad():
                m(x).sum().item()

        def fwd_bwd():
            m.zero_grad(set_to_none=True)
            loss = m(x).pow(2).mean()
            loss.backward()
            m.conv1.weight.grad.sum().item()

        res = []
        for mode, f in (("eval", fwd), ("train", fwd_bwd)):
            getattr(m, mode)()
            f()
            sync()
            t = time.perf_counter()
            for _ in range(a.iters):
                f()
            sync()
            res.append((time.perf_counter() - t) * 1000 / a.iters)
        print(f"| {b} | {res[0]:.0f} | {res[1]:.0f} |")


if __name__ == "__main__":
    main()
