#!/usr/bin/env python3
"""Writes the dataset fixture trees under tests/fixtures/data/ (committed; CI needs no Python).

Each tree copies the real dataset's file layout exactly, with a few tiny JPEGs per class:

- cub/CUB_200_2011/            images.txt, image_class_labels.txt, classes.txt,
                               train_test_split.txt, bounding_boxes.txt, images/<class dir>/*.jpg
- cars196/                     cars_annos.mat (MATLAB v5, zlib-compressed, scipy.io.savemat),
                               cars_annos_uncompressed.mat (same content, do_compression=False),
                               car_ims/000001.jpg ...
- sop/Stanford_Online_Products/ Ebay_train.txt, Ebay_test.txt, Ebay_info.txt, <category>_final/*.JPG
- inshop/                      Eval/list_eval_partition.txt (count line + header), img/...
- fashion-mnist/               idx files: train-* gzip-compressed, t10k-* plain, the first
                               images of Debian's dataset-fashion-mnist (or synthetic digits
                               when that package is not installed)

Run: /usr/bin/python3 tools/gen_data_fixtures.py   (needs numpy, scipy, PIL)
"""
import gzip
import os
import shutil
import struct

import numpy as np
import scipy.io
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "data")
RNG = np.random.RandomState(20261123)


def jpeg(path, w=None, h=None, fmt="JPEG"):
    """A tiny random-colour JPEG (8..32 px per side)."""
    w = w or int(RNG.randint(8, 33))
    h = h or int(RNG.randint(8, 33))
    base = RNG.randint(0, 256, size=3)
    arr = np.clip(base + RNG.randint(-40, 41, size=(h, w, 3)), 0, 255).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path, fmt, quality=70)


def cub():
    root = os.path.join(ROOT, "cub", "CUB_200_2011")
    shutil.rmtree(root, ignore_errors=True)
    # Real class directory names of the classes used (1, 2, 100 train; 101, 102, 200 test).
    classes = {
        1: "001.Black_footed_Albatross",
        2: "002.Laysan_Albatross",
        100: "100.Brown_Pelican",
        101: "101.White_Pelican",
        102: "102.Western_Wood_Pewee",
        200: "200.Common_Yellowthroat",
    }
    images, labels, split, boxes = [], [], [], []
    image_id = 0
    for cid, cdir in classes.items():
        stem = cdir.split(".", 1)[1]
        for k in range(3):
            image_id += 1
            rel = f"{cdir}/{stem}_{k:04d}_{100 + image_id}.jpg"
            jpeg(os.path.join(root, "images", rel))
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {cid}")
            split.append(f"{image_id} {k % 2}")
            boxes.append(f"{image_id} 1.0 2.0 5.0 6.0")
    for name, lines in [("images.txt", images), ("image_class_labels.txt", labels),
                        ("train_test_split.txt", split), ("bounding_boxes.txt", boxes),
                        ("classes.txt", [f"{c} {d}" for c, d in classes.items()])]:
        with open(os.path.join(root, name), "w") as f:
            f.write("\n".join(lines) + "\n")


def cars():
    root = os.path.join(ROOT, "cars196")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    classes = [1, 2, 98, 99, 100, 196]
    recs = []
    n = 0
    for cid in classes:
        for k in range(3):
            n += 1
            rel = f"car_ims/{n:06d}.jpg"
            w, h = int(RNG.randint(16, 33)), int(RNG.randint(12, 25))
            jpeg(os.path.join(root, rel), w, h)
            recs.append((rel, 1 + k, 2, w - 1, h - 2, cid, k % 2))
    # Same field order and MATLAB classes as the real file: char path, numeric boxes, class, test.
    dt = [("relative_im_path", "O"), ("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"),
          ("bbox_y2", "O"), ("class", "O"), ("test", "O")]
    ann = np.empty((1, len(recs)), dtype=dt)
    for i, (rel, x1, y1, x2, y2, cid, test) in enumerate(recs):
        ann[0, i]["relative_im_path"] = np.array([rel])
        ann[0, i]["bbox_x1"] = np.array([[x1]], dtype=np.float64)
        ann[0, i]["bbox_y1"] = np.array([[y1]], dtype=np.uint16)
        ann[0, i]["bbox_x2"] = np.array([[x2]], dtype=np.float64)
        ann[0, i]["bbox_y2"] = np.array([[y2]], dtype=np.uint16)
        ann[0, i]["class"] = np.array([[cid]], dtype=np.uint8)
        ann[0, i]["test"] = np.array([[test]], dtype=np.uint8)
    names = np.empty((1, 196), dtype="O")
    for i in range(196):
        names[0, i] = np.array([f"Make Model {i + 1} 2012"])
    data = {"annotations": ann, "class_names": names}
    scipy.io.savemat(os.path.join(root, "cars_annos.mat"), data, do_compression=True)
    scipy.io.savemat(os.path.join(root, "cars_annos_uncompressed.mat"), data,
                     do_compression=False)
    # Self-check with scipy's reader.
    back = scipy.io.loadmat(os.path.join(root, "cars_annos.mat"))["annotations"]
    assert back.shape == (1, len(recs)) and str(back[0, 0]["relative_im_path"][0]) == recs[0][0]


def sop():
    root = os.path.join(ROOT, "sop", "Stanford_Online_Products")
    shutil.rmtree(root, ignore_errors=True)
    cats = ["bicycle", "cabinet", "chair", "coffee_maker", "fan", "kettle", "lamp", "mug",
            "sofa", "stapler", "table", "toaster"]
    header = "image_id class_id super_class_id path"
    train, test = [header], [header]
    image_id = 0
    # Train: classes 1..6 (1 to 4 images each); test: 11319..11324 (the real test ids).
    for part, first, out in [("train", 1, train), ("test", 11319, test)]:
        for j in range(6):
            cid = first + j
            sup = 1 + (j * 2 + (part == "test")) % len(cats)
            for k in range(2 + (j % 3)):
                image_id += 1
                rel = f"{cats[sup - 1]}_final/{111085122000 + cid}_{k}.JPG"
                jpeg(os.path.join(root, rel))
                out.append(f"{image_id} {cid} {sup} {rel}")
    for name, lines in [("Ebay_train.txt", train), ("Ebay_test.txt", test),
                        ("Ebay_info.txt", [header] + train[1:] + test[1:])]:
        with open(os.path.join(root, name), "w") as f:
            f.write("\n".join(lines) + "\n")


def inshop():
    root = os.path.join(ROOT, "inshop")
    shutil.rmtree(root, ignore_errors=True)
    rows = []
    # 3 train items, 3 evaluation items with query and gallery images.
    for item, gender, cat, status in [
        (2, "WOMEN", "Dresses", ["train"] * 3),
        (4, "WOMEN", "Blouses_Shirts", ["train"] * 2),
        (7, "MEN", "Denim", ["train"] * 4),
        (8, "WOMEN", "Dresses", ["query", "gallery", "gallery"]),
        (12, "MEN", "Tees_Tanks", ["query", "query", "gallery"]),
        (15, "WOMEN", "Skirts", ["query", "gallery"]),
    ]:
        for k, st in enumerate(status):
            view = ["front", "side", "back", "full", "additional"][k % 5]
            rel = f"img/{gender}/{cat}/id_{item:08d}/{k + 1:02d}_{k + 1}_{view}.jpg"
            jpeg(os.path.join(root, rel))
            rows.append((rel, f"id_{item:08d}", st))
    os.makedirs(os.path.join(root, "Eval"))
    with open(os.path.join(root, "Eval", "list_eval_partition.txt"), "w") as f:
        f.write(f"{len(rows)}\n")
        f.write(f"{'image_name':<71}{'item_id':<10}evaluation_status\n")
        for rel, item, st in rows:
            f.write(f"{rel:<71}{item:<12}{st}\n")


def idx_bytes(arr):
    dims = arr.shape
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(
        struct.pack(">I", d) for d in dims) + arr.astype(np.uint8).tobytes()


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def fashion_mnist():
    root = os.path.join(ROOT, "fashion-mnist")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    src = "/usr/share/datasets/fashion-mnist"
    if os.path.exists(os.path.join(src, "train-images-idx3-ubyte.gz")):
        tr_x = read_idx_gz(os.path.join(src, "train-images-idx3-ubyte.gz"))[:40]
        tr_y = read_idx_gz(os.path.join(src, "train-labels-idx1-ubyte.gz"))[:40]
        te_x = read_idx_gz(os.path.join(src, "t10k-images-idx3-ubyte.gz"))[:20]
        te_y = read_idx_gz(os.path.join(src, "t10k-labels-idx1-ubyte.gz"))[:20]
    else:
        tr_y = np.arange(40) % 10
        te_y = np.arange(20) % 10
        tr_x = RNG.randint(0, 256, size=(40, 28, 28))
        te_x = RNG.randint(0, 256, size=(20, 28, 28))
    # Train files gzip-compressed (as Debian ships them), test files plain.
    for name, arr in [("train-images-idx3-ubyte.gz", tr_x), ("train-labels-idx1-ubyte.gz", tr_y)]:
        with open(os.path.join(root, name), "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                f.write(idx_bytes(arr))
    with open(os.path.join(root, "t10k-images-idx3-ubyte"), "wb") as f:
        f.write(idx_bytes(te_x))
    with open(os.path.join(root, "t10k-labels-idx1-ubyte"), "wb") as f:
        f.write(idx_bytes(te_y))
    # Expected values for the Rust tests.
    with open(os.path.join(root, "expected.txt"), "w") as f:
        f.write("train_labels " + " ".join(str(int(v)) for v in tr_y) + "\n")
        f.write("test_labels " + " ".join(str(int(v)) for v in te_y) + "\n")
        f.write(f"train0_sum {int(tr_x[0].astype(np.int64).sum())}\n")
        f.write(f"test0_pixel_14_14 {int(te_x[0][14][14])}\n")


def transforms():
    """Pillow references for the resampling (torchvision's PIL path) and JPEG decoding."""
    root = os.path.join(ROOT, "transforms")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    yy, xx = np.mgrid[0:30, 0:40]
    smooth = np.stack([xx * 6, yy * 8, (xx + yy) * 3], axis=-1)
    arr = np.clip(smooth + RNG.randint(-30, 31, size=(30, 40, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    img.save(os.path.join(root, "input.png"))
    # RandomResizedCrop's resize step: F.resized_crop -> img.crop(box).resize(size, BILINEAR)
    # is what torchvision 0.14 does for PIL images; Pillow's resize with box= gives the same.
    img.resize((17, 13), Image.BILINEAR, box=(3, 2, 37, 29)).save(
        os.path.join(root, "resize_box_3_2_37_29_to_17x13.png"))
    img.crop((3, 2, 37, 29)).resize((17, 13), Image.BILINEAR).save(
        os.path.join(root, "crop_then_resize_to_17x13.png"))
    # Resize(20) then CenterCrop(16) with torchvision.
    import torchvision.transforms as T
    T.Compose([T.Resize(20), T.CenterCrop(16)])(img).save(
        os.path.join(root, "resize20_centercrop16.png"))
    # Upscaling too.
    img.resize((57, 41), Image.BILINEAR).save(os.path.join(root, "resize_to_57x41.png"))
    # JPEG decoding reference: Pillow (libjpeg-turbo) pixels of a JPEG, stored losslessly.
    big = np.clip(np.kron(arr, np.ones((4, 4, 1))), 0, 255).astype(np.uint8)
    Image.fromarray(big).save(os.path.join(root, "photo.jpg"), "JPEG", quality=90)
    Image.open(os.path.join(root, "photo.jpg")).convert("RGB").save(
        os.path.join(root, "photo_pil_decoded.png"))


if __name__ == "__main__":
    transforms()
    cub()
    cars()
    sop()
    inshop()
    fashion_mnist()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"fixtures written under {os.path.normpath(ROOT)}: {total} bytes")
