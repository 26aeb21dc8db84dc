#!/usr/bin/env python3
"""Checks, on the GPU machine, what tools/device_check.sh assumes about TF32.

dml's libtorch backend (burn-tch over the `tch` crate) cannot set PyTorch's TF32 flags: `tch`
has no setter for them. libtorch's defaults (ATen's Context, PyTorch 2.11) run CUDA matrix
products in full float32 and cuDNN convolutions in TF32 (a 10-bit mantissa). The device check
therefore runs dml's parity steps with NVIDIA_TF32_OVERRIDE=0, the variable that tells cuBLAS
and cuDNN not to use TF32. This script measures, on the GPU, the relative error against float64
of a float32 convolution and matrix product:

- with PyTorch's defaults, in a process without the variable (what dml's libtorch would do);
- with PyTorch's defaults, in a process with NVIDIA_TF32_OVERRIDE=0 (what the parity steps do);
- with TF32 turned off through PyTorch's own flags (the reference float32 error).

It fails when the variable leaves the convolution or the product worse than 4x the reference
float32 error. On the CPU (the rehearsal) there is no TF32 and the three agree.

Usage: python3 tools/check_tf32_override.py --device cuda
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F


def errors(device, ieee):
    """Relative max errors of a float32 3x3 convolution and a matrix product on `device`."""
    if ieee and device.type == "cuda":
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 256, 28, 28, dtype=torch.float64, generator=gen)
    w = torch.randn(256, 256, 3, 3, dtype=torch.float64, generator=gen) / 48
    a = torch.randn(1024, 1024, dtype=torch.float64, generator=gen)
    b = torch.randn(1024, 1024, dtype=torch.float64, generator=gen)
    out = {}
    for name, f, args in (("conv", lambda x, w: F.conv2d(x, w, padding=1), (x, w)),
                          ("matmul", torch.matmul, (a, b))):
        ref = f(*args)
        got = f(*(t.float().to(device) for t in args)).double().cpu()
        out[name] = ((got - ref).abs().max() / ref.abs().max()).item()
    return out


def child(device, variable):
    env = {k: v for k, v in os.environ.items() if k != "NVIDIA_TF32_OVERRIDE"}
    if variable is not None:
        env["NVIDIA_TF32_OVERRIDE"] = variable
    res = subprocess.run([sys.executable, __file__, "--device", str(device), "--child"],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--child", action="store_true")
    p.add_argument("--ieee", action="store_true")
    a = p.parse_args()
    device = torch.device(a.device)
    if a.child:
        print(json.dumps(errors(device, a.ieee)))
        return
    rows = {
        "PyTorch defaults": child(device, None),
        "PyTorch defaults, NVIDIA_TF32_OVERRIDE=0": child(device, "0"),
        "TF32 off by PyTorch's flags": errors(device, ieee=True),
    }
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"float32 relative max error against float64 on {name} (PyTorch {torch.__version__})")
    print("| run | conv 3x3, 8x256x28x28 | matmul 1024^3 |")
    print("| --- | --- | --- |")
    for label, e in rows.items():
        print(f"| {label} | {e['conv']:.2e} | {e['matmul']:.2e} |")
    ref = rows["TF32 off by PyTorch's flags"]
    pinned = rows["PyTorch defaults, NVIDIA_TF32_OVERRIDE=0"]
    bad = [k for k in ref if pinned[k] > 4 * ref[k]]
    if bad:
        sys.exit(f"NVIDIA_TF32_OVERRIDE=0 leaves TF32 on for: {', '.join(bad)}")
    print("NVIDIA_TF32_OVERRIDE=0 gives float32 accuracy in both")


if __name__ == "__main__":
    main()
