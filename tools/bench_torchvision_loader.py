#!/usr/bin/env python3
"""torchvision counterpart of crates/dml-data/examples/bench_loader.rs.

Reads the same folder of JPEGs with torchvision's ImageFolder (PIL decoding), applies
RandomResizedCrop(224) + RandomHorizontalFlip() + ToTensor() + Normalize(ImageNet), and
batches them with torch's DataLoader (batch 32, shuffled, drop_last, num_workers workers,
each limited to one torch thread as DataLoader workers are). The first epoch is a warm-up;
the rate is over the remaining epochs.

Usage: /usr/bin/python3 tools/bench_torchvision_loader.py --dir DIR [--workers 2]
       [--batch 32] [--epochs 3]
"""
import argparse
import time

import PIL
import torch
import torchvision
from torchvision import datasets, transforms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    tf = transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    ds = datasets.ImageFolder(a.dir, transform=tf)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
        persistent_workers=a.workers > 0)
    images, seconds = 0, 0.0
    for epoch in range(a.epochs):
        start = time.perf_counter()
        count = 0
        for x, y in loader:
            count += x.shape[0]
        t = time.perf_counter() - start
        print(f"epoch {epoch}: {count} images in {t:.2f} s ({count / t:.1f} images/s)")
        if epoch > 0:
            images += count
            seconds += t
    print(f"torchvision {torchvision.__version__} / Pillow {PIL.__version__}: "
          f"{images / seconds:.1f} images/s ({a.workers} workers, batch {a.batch}, "
          f"{len(ds)} JPEGs in {a.dir})")


if __name__ == "__main__":
    main()
