#!/usr/bin/env python3
"""The PIL + torchvision side of scripts/bench_jpeg.sh, and the photographs it runs on.

  bench_jpeg.py photos OUT [--count 300]   write OUT/train/photos/NNN.jpg: distinct 500x375 (or 375x500)
                                           crops of real photographs (scikit-image's sample images,
                                           matplotlib's grace_hopper.jpg), JPEG quality 90
  bench_jpeg.py run ROOT [--size 224] [--seconds 5]
                                           Image.open + convert("RGB") + RandomResizedCrop(size) +
                                           RandomHorizontalFlip + pil_to_tensor over ROOT/train/*/*.jpg
                                           on one thread; prints one JSON line like trim-bench-data
Needs pillow and torchvision (pip install pillow torchvision); `photos` also fetches the scikit-image
wheel with `pip download` for its data folder.
"""
import argparse
import glob
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile


def sources(cache):
    """Colour photographs as PIL images."""
    from PIL import Image
    os.makedirs(cache, exist_ok=True)
    wheels = glob.glob(os.path.join(cache, "scikit_image-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "scikit-image", "--no-deps", "-q", "-d", cache],
                       check=True)
        wheels = glob.glob(os.path.join(cache, "scikit_image-*.whl"))
    names = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
             "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg", "ihc.png", "grass.png", "gravel.png", "color.png"]
    out = []
    with zipfile.ZipFile(wheels[0]) as z:
        for n in names:
            out.append(Image.open(io.BytesIO(z.read("skimage/data/" + n))).convert("RGB"))
    try:
        import matplotlib
        out.append(Image.open(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data",
                                           "grace_hopper.jpg")).convert("RGB"))
    except ImportError:
        pass
    return out


def photos(out, count, cache):
    from PIL import Image
    src = sources(cache)
    folder = os.path.join(out, "train", "photos")
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(0)
    for k in range(count):
        img = src[k % len(src)]
        w, h = (500, 375) if rng.random() < 0.75 else (375, 500)
        # A random region of the photograph with the target's aspect ratio, 40-100% of the largest
        # that fits, resampled to w x h: every file distinct.
        full = min(img.width / w, img.height / h)
        s = full * rng.uniform(0.4, 1.0)
        cw, ch = w * s, h * s
        x0, y0 = rng.uniform(0, img.width - cw), rng.uniform(0, img.height - ch)
        piece = img.resize((w, h), Image.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            piece = piece.transpose(Image.FLIP_LEFT_RIGHT)
        piece.save(os.path.join(folder, f"{k:03d}.jpg"), quality=90)
    print(f"{count} JPEGs in {folder} from {len(src)} photographs")


def run(root, size, seconds):
    import torch
    from PIL import Image
    import torchvision.transforms as T
    import torchvision.transforms.functional as F
    torch.set_num_threads(1)
    files = sorted(glob.glob(os.path.join(root, "train", "*", "*.jpg")))
    t = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip()])
    images, checksum = 0, 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds or images == 0:
        for f in files:
            with open(f, "rb") as fh:
                img = Image.open(fh).convert("RGB")
            x = F.pil_to_tensor(t(img))  # u8 [3, size, size], as trim delivers
            checksum += int(x[0, 0, 0])
            images += 1
        elapsed = time.perf_counter() - t0
    print(json.dumps({"images": images, "seconds": round(elapsed, 3), "images_per_second": round(images / elapsed, 1),
                      "size": size, "files": len(files), "checksum": checksum}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("photos")
    a.add_argument("out")
    a.add_argument("--count", type=int, default=300)
    a.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "trim-bench-jpeg-cache"))
    b = sub.add_parser("run")
    b.add_argument("root")
    b.add_argument("--size", type=int, default=224)
    b.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    if args.cmd == "photos":
        photos(args.out, args.count, args.cache)
    else:
        run(args.root, args.size, args.seconds)


if __name__ == "__main__":
    main()
