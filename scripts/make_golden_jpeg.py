#!/usr/bin/env python3
"""Golden values for trim's JPEG decoding and resampling (test/unit/test_data_image_folder.cpp).

Draws a few deterministic pictures, saves them as JPEGs with PIL, and writes what PIL / torchvision
make of those files: the decoded pixels, torchvision's resized_crop (RandomResizedCrop's resampling)
and Resize + CenterCrop. The test decodes the same committed JPEG files with libjpeg-turbo and
resamples with trim's own code. Needs pillow and torchvision (not needed to run the tests):
    pip install pillow torchvision && python3 scripts/make_golden_jpeg.py
Writes test/golden/jpeg/: <name>.jpg, <name>.orig (the drawn pixels, HWC u8), <name>.pil (PIL's
decode, HWC u8), <name>.crop<k> / <name>.eval (CHW u8), and cases.json describing them.
"""
import json
import os
import random

from PIL import Image, ImageDraw, ImageFilter, features
import torchvision
import torchvision.transforms.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "golden", "jpeg")


def picture(seed, w, h, mode):
    rng = random.Random(seed)
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (int(255 * x / w), int(255 * y / h), int(128 + 100 * ((x + y) % 17) / 17))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(5, w // 2), y0 + rng.randrange(5, h // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.0))  # photo-like: no hard single-pixel edges
    return img.convert(mode)


def raw_chw(img):
    b = img.tobytes()
    c = len(img.getbands())
    w, h = img.size
    return bytes(b[(y * w + x) * c + ch] for ch in range(c) for y in range(h) for x in range(w))


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    specs = [("colour_a", 1, 96, 72, "RGB", 95), ("colour_b", 2, 72, 96, "RGB", 90),
             ("colour_c", 3, 101, 67, "RGB", 95), ("grey_d", 4, 80, 64, "L", 95),
             ("cmyk_e", 5, 64, 48, "CMYK", 95)]  # an Adobe CMYK JPEG, as PIL writes them
    for name, seed, w, h, mode, quality in specs:
        img = picture(seed, w, h, "RGB" if mode == "CMYK" else mode)
        with open(os.path.join(OUT, name + ".orig"), "wb") as f:
            f.write(img.tobytes())
        path = os.path.join(OUT, name + ".jpg")
        (img.convert("CMYK") if mode == "CMYK" else img).save(path, quality=quality)  # PIL's defaults: 4:2:0, baseline
        dec = Image.open(path)
        dec.load()
        if dec.mode == "CMYK":
            dec = dec.convert("RGB")
        with open(os.path.join(OUT, name + ".pil"), "wb") as f:
            f.write(dec.tobytes())
        rng = random.Random(100 + seed)
        crops = []
        for k in range(3):
            ch, cw = rng.randrange(8, h + 1), rng.randrange(8, w + 1)
            top, left = rng.randrange(h - ch + 1), rng.randrange(w - cw + 1)
            size = [24, 32, 40][k]
            out = F.resized_crop(dec, top, left, ch, cw, [size, size],
                                 interpolation=torchvision.transforms.InterpolationMode.BILINEAR)
            with open(os.path.join(OUT, f"{name}.crop{k}"), "wb") as f:
                f.write(raw_chw(out))
            crops.append({"top": top, "left": left, "height": ch, "width": cw, "size": size})
        resize, size = 36, 32
        ev = F.center_crop(F.resize(dec, resize, interpolation=torchvision.transforms.InterpolationMode.BILINEAR), size)
        with open(os.path.join(OUT, name + ".eval"), "wb") as f:
            f.write(raw_chw(ev))
        cases.append({"name": name, "width": w, "height": h, "channels": len(dec.getbands()), "quality": quality,
                      "crops": crops, "resize": resize, "size": size})
    meta = {"pillow": Image.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
            "torchvision": torchvision.__version__, "cases": cases}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
