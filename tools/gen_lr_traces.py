"""Learning-rate traces of the seed systems' schedules, from the reference implementations.

For each seed README command, the learning rate every parameter group uses at every optimizer
step of the run, computed the way the seed's code computes it:

- LDM (train.py): torch.optim.AdamW with the backbone, embedding and proxy groups, StepLR stepped
  after every epoch; the margins' own AdamW with its own StepLR.
- PaddlePaddle (train_elem.py / train_pair.py): fluid's piecewise_decay, reproduced with
  torch's MultiStepLR stepped once per iteration (step counter from 0, total_iter_num + 1 steps).
- The online-metric-learning seed (main.py): StepLR stepped at the top of every iteration,
  before optimizer.step().
- MindSpore (src/lr_generator.py): its get_lr array, transcribed (numpy float32), for the
  softmax dictionary's `steps` mode and for `poly` and `liner` with a warm-up.

The traces are run-length encoded: [first_step, last_step, lr] per run of equal values. Written
to tests/fixtures/schedules/lr_traces.json; tests/lr_traces.rs (dml-train) compares every step.
Run with Debian's python3-torch: `python3 tools/gen_lr_traces.py`.
"""

import json
import math
import os

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "schedules", "lr_traces.json")


def rle(values):
    runs = []
    for i, v in enumerate(values):
        v = float(v)
        if runs and runs[-1][2] == v:
            runs[-1][1] = i
        else:
            runs.append([i, i, v])
    return runs


def params(n):
    return [torch.nn.Parameter(torch.zeros(1)) for _ in range(n)]


def ldm(lr, step, gamma, epochs, steps_per_epoch, mrg_lr=1e-4, mrg_step=10, mrg_gamma=0.5):
    b, h, p, m = params(4)
    opt = torch.optim.AdamW(
        [{"params": [b]}, {"params": [h], "lr": lr * 1}, {"params": [p], "lr": lr * 100}],
        lr=lr,
        weight_decay=1e-4,
    )
    mopt = torch.optim.AdamW([{"params": [m], "lr": mrg_lr}], lr=mrg_lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma)
    msched = torch.optim.lr_scheduler.StepLR(mopt, step_size=mrg_step, gamma=mrg_gamma)
    groups = {"backbone": [], "head": [], "loss": [], "margins": []}
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            groups["backbone"].append(opt.param_groups[0]["lr"])
            groups["head"].append(opt.param_groups[1]["lr"])
            groups["loss"].append(opt.param_groups[2]["lr"])
            groups["margins"].append(mopt.param_groups[0]["lr"])
            opt.step()
            mopt.step()
        sched.step()
        msched.step()
    return groups


def paddle(lr, boundaries, total_iter_num):
    w = params(1)
    opt = torch.optim.SGD(w, lr=lr, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=boundaries, gamma=0.1)
    trace = []
    for _ in range(total_iter_num + 1):
        trace.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return trace


def online_ml(lr, decay_iter_step, decay_gamma, maxiter):
    w = params(1)
    opt = torch.optim.Adam(w, lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=decay_iter_step, gamma=decay_gamma)
    trace = []
    for _ in range(maxiter):
        sched.step()  # main.py steps the scheduler before the optimizer
        trace.append(opt.param_groups[0]["lr"])
        opt.step()
    return trace


def mindspore_get_lr(lr_init, lr_end, lr_max, warmup_epochs, total_epochs, steps_per_epoch, mode):
    """MindSpore metric_learn's src/lr_generator.py get_lr, transcribed."""
    total = steps_per_epoch * total_epochs
    warm = steps_per_epoch * warmup_epochs
    out = []
    for i in range(total):
        if mode == "poly":
            if i < warm:
                inc = (lr_max - lr_init) / warm if warm else 0
                lr = lr_init + inc * i
            else:
                base = 1.0 - (i - warm) / (total - warm)
                lr = max(lr_max * base * base, 0.0)
        elif mode == "liner":
            if i < warm:
                lr = lr_init + (lr_max - lr_init) * i / warm
            else:
                lr = lr_max - (lr_max - lr_end) * (i - warm) / (total - warm)
        elif mode == "const":
            lr = lr_max
        else:  # steps, and every unknown name
            if i < warm:
                lr = lr_init + (lr_max - lr_init) * i / warm
            elif i < 0.4 * total:
                lr = lr_max
            elif i < 0.8 * total:
                lr = lr_max * 0.1
            else:
                lr = lr_max * 0.01
        out.append(lr)
    return np.array(out).astype(np.float32).tolist()


def main():
    cases = []
    # LDM README rows 1 and 6 (BN-Inception CUB; ResNet-50 SOP), 40 / 60 epochs.
    cases.append({
        "name": "ldm_cub_bn_inception",
        "seed": "ldm",
        "args": "--gpu-id 0 --loss AMLoss --model bn_inception --embedding-size 512 --batch-size 180 --lr 1e-4 --dataset cub --warm 1 --bn-freeze 1 --lr-decay-step 20 --alphap 48 --alphan 48",
        "steps_per_epoch": 3,
        "tolerance": 1e-12,
        "groups": {k: rle(v) for k, v in ldm(1e-4, 20, 0.5, 40, 3).items()},
    })
    cases.append({
        "name": "ldm_sop_resnet50",
        "seed": "ldm",
        "args": "--gpu-id 0 --loss AMLoss --model resnet50 --embedding-size 512 --batch-size 180 --lr 6e-4 --dataset SOP --warm 5 --bn-freeze 0 --lr-decay-step 10 --lr-decay-gamma 0.5 --epoch 60",
        "steps_per_epoch": 2,
        "tolerance": 1e-12,
        "groups": {k: rle(v) for k, v in ldm(6e-4, 10, 0.5, 60, 2).items()},
    })
    # PaddlePaddle's README commands: 30,001 and 100,001 iterations.
    elem = rle(paddle(0.01, [15000, 25000], 30000))
    cases.append({
        "name": "paddle_train_elem",
        "seed": "paddle-train-elem",
        "args": "--model=ResNet50 --train_batch_size=256 --test_batch_size=50 --lr=0.01 --total_iter_num=30000 --use_gpu=True --loss_name=arcmargin --arc_scale=80.0 --arc_margin=0.15 --arc_easy_margin=False",
        "steps_per_epoch": 232,
        "tolerance": 1e-12,
        "groups": {"backbone": elem, "head": elem, "loss": elem},
    })
    pair = rle(paddle(0.0001, [100000], 100000))
    cases.append({
        "name": "paddle_train_pair",
        "seed": "paddle-train-pair",
        "args": "--model=ResNet50 --train_batch_size=160 --test_batch_size=50 --lr=0.0001 --total_iter_num=100000 --use_gpu=True --loss_name=eml --samples_each_class=2",
        "steps_per_epoch": 372,
        "tolerance": 1e-12,
        "groups": {"backbone": pair, "head": pair},
    })
    online = rle(online_ml(1e-4, 5000, 0.1, 10000))
    cases.append({
        "name": "online_ml_cub",
        "seed": "online-ml",
        "args": "--dataroot DATASET_PATH --batch_size 128 --batch_size_test 32 --embedding_dim 128 --eval_interval 50 --loss contrastive --dataset CUB-200-2011 --seed 18 --checkpoints_path SAVING_PATH --margin 0.1 --lr 1e-4 --maxiter 10000 --decay_iter_step 5000 --decay_gamma 0.1 --l2norm --cuda",
        "steps_per_epoch": 46,
        "tolerance": 1e-12,
        "groups": {"backbone": online, "head": online},
    })
    # MindSpore: the Ascend softmax dictionary (steps, lr_max 0.3, 30 epochs), 46 steps per
    # epoch as its README's 8-device log; poly and liner with a 2-epoch warm-up via --config.
    for mode, extra in [("steps", {}), ("poly", {"warmup_epochs": 2}), ("liner", {"warmup_epochs": 2, "lr_end": 0.0001})]:
        d = {"lr_init": 0.0001, "lr_end": 0.01, "lr_max": 0.3, "warmup_epochs": 0, "epoch_size": 30}
        d.update(extra)
        d["lr_decay_mode"] = mode
        trace = mindspore_get_lr(d["lr_init"], d["lr_end"], d["lr_max"], d["warmup_epochs"], d["epoch_size"], 46, mode)
        cases.append({
            "name": f"mindspore_softmax_{mode}",
            "seed": "mindspore",
            "args": "--device_target=GPU --loss_name=softmax",
            "mindspore_config": d,
            "steps_per_epoch": 46,
            "tolerance": 1e-6,
            "groups": {"backbone": rle(trace)},
        })
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_lr_traces.py", "torch": torch.__version__, "cases": cases}, f, indent=1)
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
