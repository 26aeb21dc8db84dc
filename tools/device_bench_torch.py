"""The PyTorch side of tools/device_check.sh: the same work as examples/device_bench.rs, on the
same device, with PyTorch (and pytorch-metric-learning 2.9 for the losses), as JSON.

Rows (see examples/device_bench.rs): loss forward + backward (TripletMargin + BatchHardMiner,
MultiSimilarity, ProxyAnchor with 100 and 11,318 classes; ProxyAnchor 11,318 at N 4096);
a ResNet50 training step (torchvision, no fc; SGD momentum 0.9) in float32 and in mixed
precision (bf16 autocast, float32 master weights), images per second; exact kNN of
60,502 x 512 against itself with k 1000 (blocked matrix product + topk).

    python3 tools/device_bench_torch.py --device cuda [--quick] [--threads 2] [--json FILE]
"""

import argparse
import json
import statistics
import sys
import time

import torch


def sizes(quick):
    if quick:
        return dict(loss_n=[32, 64], big_classes=1000, big_n=128, resnet_batches=[2],
                    resnet_side=64, knn_n=2000, knn_k=100, iters=3)
    return dict(loss_n=[128, 256, 1024], big_classes=11318, big_n=4096, resnet_batches=[128, 256],
                resnet_side=224, knn_n=60502, knn_k=1000, iters=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--only", default="losses,resnet,knn")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def median_ms(iters, fn):
        fn(); fn(); sync()
        out = []
        for _ in range(iters):
            t = time.perf_counter()
            fn()
            sync()
            out.append((time.perf_counter() - t) * 1e3)
        return statistics.median(out)

    s = sizes(a.quick)
    only = set(a.only.split(","))
    rows = []
    started = time.perf_counter()
    d = 512
    if "losses" in only:
        from pytorch_metric_learning import losses, miners
        cases = []
        for n in s["loss_n"]:
            cases += [("triplet_batch_hard", n, 0), ("multi_similarity", n, 0),
                      ("proxy_anchor_c100", n, 100),
                      (f"proxy_anchor_c{s['big_classes']}", n, s["big_classes"])]
        cases.append((f"proxy_anchor_c{s['big_classes']}", s["big_n"], s["big_classes"]))
        triplet = losses.TripletMarginLoss(margin=0.2)
        miner = miners.BatchHardMiner()
        ms_loss = losses.MultiSimilarityLoss()
        for name, n, classes in cases:
            g = torch.Generator().manual_seed(n)
            base = torch.randn(n, d, generator=g).to(dev)
            labels = (torch.arange(n) // 4).to(dev)
            if classes:
                pa = losses.ProxyAnchorLoss(num_classes=classes, embedding_size=d).to(dev)
                lab = labels % classes

                def fn(pa=pa, lab=lab):
                    emb = base.clone().requires_grad_(True)
                    pa.zero_grad()
                    pa(emb, lab).backward()
            elif name == "triplet_batch_hard":
                def fn():
                    emb = base.clone().requires_grad_(True)
                    triplet(emb, labels, miner(emb, labels)).backward()
            else:
                def fn():
                    emb = base.clone().requires_grad_(True)
                    ms_loss(emb, labels).backward()
            ms = median_ms(s["iters"], fn)
            print(f"{name}/n{n}: {ms:.3f} ms", file=sys.stderr, flush=True)
            rows.append({"row": f"{name}/n{n}", "ms": ms})
    if "resnet" in only:
        import torchvision
        side = s["resnet_side"]
        for b in s["resnet_batches"]:
            for mode in ("f32", "mixed"):
                m = torchvision.models.resnet50()
                m.fc = torch.nn.Identity()
                m = m.to(dev).train()
                opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
                x = torch.randn(b, 3, side, side, device=dev)
                amp_dtype = torch.bfloat16

                def step():
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast(dev.type, dtype=amp_dtype, enabled=(mode == "mixed")):
                        out = m(x)
                    loss = out.float().pow(2).mean()
                    loss.backward()
                    opt.step()

                ms = median_ms(min(s["iters"], 5), step)
                rate = b / (ms / 1e3)
                print(f"resnet50_train_{mode}/b{b}: {ms:.1f} ms, {rate:.1f} images/s",
                      file=sys.stderr, flush=True)
                rows.append({"row": f"resnet50_train_{mode}/b{b}", "ms": ms, "images_per_s": rate})
                del m, opt, x
                if cuda:
                    torch.cuda.empty_cache()
    if "knn" in only:
        n, k = s["knn_n"], s["knn_k"]
        g = torch.Generator().manual_seed(7)
        x = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1).to(dev)

        def knn():
            block = 4096
            for i in range(0, n, block):
                sim = x[i:i + block] @ x.T
                idx = torch.arange(i, min(i + block, n), device=dev)
                sim[idx - i, idx] = -float("inf")
                sim.topk(k, dim=1)

        knn(); sync()
        t = time.perf_counter()
        knn(); sync()
        ms = (time.perf_counter() - t) * 1e3
        print(f"knn_self/n{n}_k{k}: {ms:.1f} ms", file=sys.stderr, flush=True)
        rows.append({"row": f"knn_self/n{n}_k{k}", "ms": ms})
    report = {"side": "pytorch", "device": str(dev),
              "peer": f"PyTorch {torch.__version__}"
                      + (f" ({torch.cuda.get_device_name(dev)})" if cuda else ""),
              "rows": rows, "seconds": time.perf_counter() - started}
    try:
        import pytorch_metric_learning as pml
        report["peer"] += f" + pytorch-metric-learning {pml.__version__}"
    except ImportError:
        pass
    text = json.dumps(report, indent=1)
    if a.json:
        open(a.json, "w").write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
