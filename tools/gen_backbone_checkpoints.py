#!/usr/bin/env python3
"""Reference checkpoints and outputs for the dml-backbones parity tests.

Builds, with seeded random weights and only offline packages (Debian's python3-torch and
python3-torchvision):

- torchvision's resnet50 (the exact module torchvision ships),
- BN-Inception in the layout of the checkpoint DML papers fine-tune from
  ("bn_inception-52deb4733.pth", Cadene's pretrainedmodels port of the Caffe model): the same
  state-dict keys, ceil-mode pooling, and its BatchNorm vectors stored as [1, C],
- the small 28x28 grayscale CNN used by the Fashion-MNIST quickstart,

then saves each checkpoint (.pth; the small CNN also as .safetensors) and records, as JSON, the
outputs for fixed inputs in eval mode (running statistics) and in train mode (batch statistics),
computed in float64 (the reference) and in float32 (PyTorch's own f32 kernels, for comparison).

BatchNorm affine vectors are drawn at random, then running statistics are calibrated on a random
batch (momentum 1) and slightly perturbed, so that eval-mode activations keep an ImageNet-like scale through 50 layers instead of blowing
up, and every affine parameter differs from its default.

Usage: /usr/bin/python3 tools/gen_backbone_checkpoints.py [OUT_DIR] [--f32-device DEVICE]
(default OUT_DIR: tests/fixtures/generated/backbones, which is gitignored; ~150 MB).

`--f32-device cuda` computes the float32 outputs on the GPU instead of the CPU, with TF32 off
(PyTorch runs cuDNN convolutions in TF32 by default), for the backbone parity test on a GPU
(tools/device_check.sh): the test allows dml a multiple of PyTorch's own float32 error, which
is then the error of float32 on that GPU. The float64 reference stays on the CPU, and the
checkpoints and inputs do not depend on the option.
"""
import argparse
import copy
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

torch.set_num_threads(max(1, os.cpu_count() or 1))
HERE = os.path.dirname(os.path.abspath(__file__))
_parser = argparse.ArgumentParser(description="Reference checkpoints for dml-backbones' tests.")
_parser.add_argument("out", nargs="?", default=os.path.join(
    HERE, "..", "tests", "fixtures", "generated", "backbones"))
_parser.add_argument("--f32-device", default="cpu",
                     help="where the float32 outputs are computed (cpu, cuda)")
ARGS = _parser.parse_args()
OUT = ARGS.out
F32_DEVICE = torch.device(ARGS.f32_device)


def full_float32_on_cuda():
    """Turns TF32 off for CUDA matrix products and cuDNN convolutions (PyTorch's default
    runs cuDNN convolutions in TF32 on Ampere and newer GPUs), and checks that it is off."""
    if hasattr(torch.backends.cudnn, "conv"):  # PyTorch >= 2.9: per-operation precision
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


# ---------------------------------------------------------------- BN-Inception (Cadene layout)
# (block, input channels, 1x1, 3x3 reduce, 3x3, double reduce, double, pool kind, pool proj,
#  stride); a stride-2 block has no 1x1 branch and an unprojected max pool branch.
INCEPTION = [
    ("3a", 192, 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 256, 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 320, 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 576, 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 576, 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 576, 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 608, 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 608, 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 1056, 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 1024, 352, 192, 320, 192, 224, "max", 128, 1),
]


class BNInception(nn.Module):
    """BN-Inception with the attribute names of bn_inception-52deb4733.pth.

    Each unit `name` is `name` (Conv2d, with bias) + `name_bn` (BatchNorm2d, eps 1e-5) + ReLU,
    as in the Caffe port (whose in-place ReLUs make every branch output the ReLU'd BN output).
    """

    def __init__(self, num_classes=1000):
        super().__init__()
        self.units = []
        self._unit("conv1_7x7_s2", 3, 64, 7, 2, 3)
        self.pool1_3x3_s2 = nn.MaxPool2d((3, 3), stride=(2, 2), dilation=(1, 1), ceil_mode=True)
        self._unit("conv2_3x3_reduce", 64, 64, 1, 1, 0)
        self._unit("conv2_3x3", 64, 192, 3, 1, 1)
        self.pool2_3x3_s2 = nn.MaxPool2d((3, 3), stride=(2, 2), dilation=(1, 1), ceil_mode=True)
        for (b, cin, c1, r3, c3, rd, cd, pool, proj, s) in INCEPTION:
            p = "inception_" + b
            if c1:
                self._unit(p + "_1x1", cin, c1, 1, 1, 0)
            self._unit(p + "_3x3_reduce", cin, r3, 1, 1, 0)
            self._unit(p + "_3x3", r3, c3, 3, s, 1)
            self._unit(p + "_double_3x3_reduce", cin, rd, 1, 1, 0)
            self._unit(p + "_double_3x3_1", rd, cd, 3, 1, 1)
            self._unit(p + "_double_3x3_2", cd, cd, 3, s, 1)
            if pool == "avg":
                setattr(self, p + "_pool", nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True,
                                                         count_include_pad=True))
            elif s == 2:
                setattr(self, p + "_pool", nn.MaxPool2d((3, 3), stride=(2, 2), dilation=(1, 1),
                                                         ceil_mode=True))
            else:
                setattr(self, p + "_pool", nn.MaxPool2d((3, 3), stride=(1, 1), padding=(1, 1),
                                                         dilation=(1, 1), ceil_mode=True))
            if proj:
                self._unit(p + "_pool_proj", cin, proj, 1, 1, 0)
        self.global_pool = nn.AvgPool2d(7, stride=1, padding=0, ceil_mode=True,
                                        count_include_pad=True)
        self.last_linear = nn.Linear(1024, num_classes)

    def _unit(self, name, cin, cout, k, s, p):
        setattr(self, name, nn.Conv2d(cin, cout, kernel_size=(k, k), stride=(s, s),
                                      padding=(p, p)))
        setattr(self, name + "_bn", nn.BatchNorm2d(cout, eps=1e-05, momentum=0.1, affine=True))

    def _run(self, name, x):
        return F.relu(getattr(self, name + "_bn")(getattr(self, name)(x)))

    def features(self, x):
        x = self._run("conv1_7x7_s2", x)
        x = self.pool1_3x3_s2(x)
        x = self._run("conv2_3x3_reduce", x)
        x = self._run("conv2_3x3", x)
        x = self.pool2_3x3_s2(x)
        for (b, _cin, c1, _r3, _c3, _rd, _cd, _pool, proj, _s) in INCEPTION:
            p = "inception_" + b
            outs = []
            if c1:
                outs.append(self._run(p + "_1x1", x))
            outs.append(self._run(p + "_3x3", self._run(p + "_3x3_reduce", x)))
            d = self._run(p + "_double_3x3_reduce", x)
            outs.append(self._run(p + "_double_3x3_2", self._run(p + "_double_3x3_1", d)))
            pooled = getattr(self, p + "_pool")(x)
            outs.append(self._run(p + "_pool_proj", pooled) if proj else pooled)
            x = torch.cat(outs, 1)
        return x


# ---------------------------------------------------------------- small CNN (Fashion-MNIST)
class SmallCnn(nn.Module):
    """conv3x3(1->32)-bn-relu-maxpool2, conv3x3(32->64)-bn-relu-maxpool2, conv3x3(64->128)-bn-relu."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(128)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return F.relu(self.bn3(self.conv3(x)))


def resnet_features(m, x):
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return x


# ---------------------------------------------------------------- helpers
def randomize(model, calib, features):
    """Randomize every BN affine vector, calibrate the running stats on `calib`, perturb them.

    Calibrating after the affine vectors are drawn keeps each layer's running statistics
    consistent with its actual input, so eval-mode activations stay O(1) through 50 layers.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            c = bn.num_features
            bn.weight.copy_(torch.empty(c).uniform_(0.5, 1.5))
            bn.bias.copy_(torch.empty(c).normal_(0.0, 0.1))
            bn.momentum = 1.0
        model.train()
        features(model, calib)
        for bn in bns:
            c = bn.num_features
            bn.momentum = 0.1
            bn.running_mean.add_(torch.empty(c).normal_(0.0, 0.02))
            bn.running_var.mul_(torch.empty(c).uniform_(0.9, 1.1))
            bn.num_batches_tracked.zero_()


def head(fmap):
    """Pre-logit features: global average pool + global max pool ([N, C]), and each alone."""
    gap = fmap.mean(dim=(2, 3))
    gmp = fmap.amax(dim=(2, 3))
    return gap, gmp


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def outputs(model, features, x, extra):
    """Pooled features (and logits) of `features(model, x)`, BN in the model's current mode."""
    with torch.no_grad():
        fmap = features(model, x)
        gap, gmp = head(fmap)
        logits = extra(model, gap) if extra is not None else None
    return fmap, gap, gmp, logits


def record(name, model, features, eval_x, train_x, extra=None):
    """Writes NAME_io.json: inputs, and for eval and train mode the feature-map shape, GAP,
    GMP (and logits) computed in float64 on the CPU (keys without suffix: the reference the
    Rust tests compare with) and in float32 on F32_DEVICE (suffix `_f32`: what PyTorch's own
    f32 kernels give there), plus the first BatchNorm's running statistics after the
    train-mode forward."""
    out = {"eval_input_shape": list(eval_x.shape), "eval_input": flat(eval_x),
           "train_input_shape": list(train_x.shape), "train_input": flat(train_x),
           "f32_device": str(F32_DEVICE)}
    model64 = copy.deepcopy(model).double()
    model32 = copy.deepcopy(model).to(F32_DEVICE)
    first_bn = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)][0]
    for mode, x in (("eval", eval_x), ("train", train_x)):
        for suffix, m, xx in (("", model64, x.double()), ("_f32", model32, x.to(F32_DEVICE))):
            snapshot = copy.deepcopy(m.state_dict())
            m.train(mode == "train")
            fmap, gap, gmp, logits = outputs(m, features, xx, extra)
            out[f"{mode}_feature_map_shape"] = list(fmap.shape)
            out[f"{mode}_gap{suffix}"] = flat(gap)
            out[f"{mode}_gmp{suffix}"] = flat(gmp)
            if logits is not None:
                out[f"{mode}_logits{suffix}"] = flat(logits)
            if mode == "train":
                bn = dict(m.named_modules())[first_bn]
                out["train_first_bn"] = first_bn
                out[f"train_first_bn_running_mean{suffix}"] = flat(bn.running_mean)
                out[f"train_first_bn_running_var{suffix}"] = flat(bn.running_var)
            m.load_state_dict(snapshot)
            m.eval()
    with open(os.path.join(OUT, name + "_io.json"), "w") as f:
        json.dump(out, f)


def save_safetensors(state, path):
    """Minimal safetensors writer (the format: u64 header length, JSON header, raw LE data)."""
    header, blobs, offset = {}, [], 0
    for k, v in state.items():
        if v.dtype != torch.float32:
            continue
        data = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset,
                                                                               offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    if F32_DEVICE.type == "cuda":
        full_float32_on_cuda()

    # ResNet50 (torchvision layout); ImageNet-normalized RGB inputs.
    torch.manual_seed(0)
    r50 = torchvision.models.resnet50()
    randomize(r50, torch.randn(8, 3, 128, 128), resnet_features)
    torch.save(r50.state_dict(), os.path.join(OUT, "resnet50.pth"))
    torch.manual_seed(1)
    record("resnet50", r50, resnet_features, torch.randn(2, 3, 224, 224),
           torch.randn(4, 3, 112, 112), extra=lambda m, gap: m.fc(gap))

    # BN-Inception; BGR 0-255 inputs minus [104, 117, 128].
    torch.manual_seed(2)
    bni = BNInception()
    mean = torch.tensor([104.0, 117.0, 128.0]).view(1, 3, 1, 1)
    calib = torch.rand(8, 3, 128, 128) * 255 - mean
    randomize(bni, calib, lambda m, x: m.features(x))
    state = bni.state_dict()
    # The published checkpoint stores BatchNorm vectors as [1, C] (loaders squeeze them).
    state = {k: (v.unsqueeze(0) if "_bn." in k and v.dim() == 1 else v)
             for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, os.path.join(OUT, "bn_inception.pth"))
    torch.manual_seed(3)
    record("bn_inception", bni, lambda m, x: m.features(x),
           torch.rand(2, 3, 224, 224) * 255 - mean, torch.rand(4, 3, 128, 128) * 255 - mean,
           extra=lambda m, gap: m.last_linear(gap))

    # Small CNN: .pth and .safetensors.
    torch.manual_seed(4)
    cnn = SmallCnn()
    randomize(cnn, torch.randn(16, 1, 28, 28), lambda m, x: m.features(x))
    torch.save(cnn.state_dict(), os.path.join(OUT, "small_cnn.pth"))
    save_safetensors(cnn.state_dict(), os.path.join(OUT, "small_cnn.safetensors"))
    torch.manual_seed(5)
    record("small_cnn", cnn, lambda m, x: m.features(x), torch.randn(4, 1, 28, 28),
           torch.randn(4, 1, 28, 28))

    # A file that is not a checkpoint, for the error-path tests.
    with open(os.path.join(OUT, "not_a_checkpoint.pth"), "wb") as f:
        f.write(b"this is not a pytorch checkpoint\n" * 4)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
