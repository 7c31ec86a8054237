"""Builders of tiny fake datasets on disk (CelebA layout, mixed image folder) for data tests,
and a cheap stand-in for the Inception feature extractor (quality tests).

Every fake CelebA image encodes its own number in the green channel of the crop region, so
a test can check that image rows and index rows stay aligned after files are skipped.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CELEBA_ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
# a few ids in each official range: train 1-162770, valid 162771-182637, test 182638-202599
GOOD_IDS = [*range(1, 9), *range(162771, 162777), *range(182638, 182644)]
BAD_FILES = {"000100.jpg": "corrupt", "000101.jpg": "empty", "000102.jpg": "truncated", "000103.jpg": "text"}
CROP_BOX = (15, 40, 163, 188)  # the documented CelebA crop on 178x218


def green_of(num: int) -> int:
    """Green level that marks image ``num`` (distinct for the ids above, JPEG-safe spacing)."""
    return 20 + (GOOD_IDS.index(num) * 10 if num in GOOD_IDS else 0)


def celeba_jpeg(num: int, size=(178, 218)) -> bytes:
    """Blue outside the face crop, (200, green_of(num), 40) inside it."""
    w, h = size
    im = Image.new("RGB", size, (0, 0, 255))
    sx, sy = w / 178, h / 218
    box = [CROP_BOX[0] * sx, CROP_BOX[1] * sy, CROP_BOX[2] * sx, CROP_BOX[3] * sy]
    ImageDraw.Draw(im).rectangle(box, fill=(200, green_of(num), 40))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def corrupt_jpeg(good: bytes) -> bytes:
    """A JPEG whose Huffman table is nonsense: Pillow identifies it, libjpeg fails to decode."""
    b = bytearray(good)
    dht = good.index(b"\xff\xc4")  # define-Huffman-table marker
    b[dht + 5:dht + 21] = b"\xff" * 16  # code-length counts that cannot form a table
    return bytes(b)


def file_partition(num: int) -> int:
    """Partition code written in the fake list_eval_partition.txt: deliberately NOT the
    official id ranges, so a test can tell the file was read."""
    return num % 3


def make_celeba(root: Path, *, layout: str = "official", attrs: bool = True, partition: bool = True,
                identity: bool = True, bad: bool = True, seed: int = 0) -> dict:
    """Write a CelebA-like folder. layout 'official': root/img_align_celeba; 'torchvision':
    root/celeba/img_align_celeba. Returns expected labels keyed by file name."""
    base = root / "celeba" if layout == "torchvision" else root
    img_dir = base / "img_align_celeba"
    img_dir.mkdir(parents=True, exist_ok=True)
    for num in GOOD_IDS:
        (img_dir / f"{num:06d}.jpg").write_bytes(celeba_jpeg(num))
    names = [f"{n:06d}.jpg" for n in GOOD_IDS]
    if bad:
        good = celeba_jpeg(1)
        (img_dir / "000100.jpg").write_bytes(corrupt_jpeg(good))
        (img_dir / "000101.jpg").write_bytes(b"")
        (img_dir / "000102.jpg").write_bytes(good[: len(good) // 2])
        (img_dir / "000103.jpg").write_text("this is not an image\n")
        names += list(BAD_FILES)
    (img_dir / "README.txt").write_text("not an image file name: ignored, not skipped\n")
    rng = np.random.default_rng(seed)
    values = rng.choice([-1, 1], size=(len(names), len(CELEBA_ATTRS)))
    nums = [int(n[:6]) for n in names]
    if attrs:
        # official spacing: one space before -1, two before 1, a trailing space on the names line
        rows = [f"{n}" + "".join(f" {v}" if v < 0 else f"  {v}" for v in vals) for n, vals in zip(names, values)]
        (base / "list_attr_celeba.txt").write_text(
            f"{len(names)}\n" + " ".join(CELEBA_ATTRS) + " \n" + "\n".join(rows) + "\n")
    if partition:
        (base / "list_eval_partition.txt").write_text(
            "".join(f"{n} {file_partition(k)}\n" for n, k in zip(names, nums)))
    if identity:
        (base / "identity_CelebA.txt").write_text("".join(f"{n} {1000 + k % 5}\n" for n, k in zip(names, nums)))
    return {"names": names, "good": names[:len(GOOD_IDS)],
            "attrs": {n: (v > 0).astype(int) for n, v in zip(names, values)},
            "identity": {n: 1000 + k % 5 for n, k in zip(names, nums)}}


def make_image_folder(root: Path) -> dict:
    """Mixed modes and formats, nested folders, a text file named .jpg, an ignored .txt and a
    hidden file. Returns {relative path: expected kind} for the images that must be kept."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub" / "deeper").mkdir(parents=True)
    expect = {}

    def save(rel, im, fmt, kind, **kw):
        im.save(root / rel, fmt, **kw)
        expect[rel] = kind

    save("rgb_wide.jpg", Image.new("RGB", (300, 200), (200, 30, 30)), "JPEG", "red")
    save("UPPER.JPG", Image.new("RGB", (120, 160), (30, 200, 30)), "JPEG", "green")
    save("gray.png", Image.new("L", (80, 80), 128), "PNG", "gray")
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))          # fully transparent
    save("rgba.png", rgba, "PNG", "white")
    pal = Image.new("RGB", (70, 50), (30, 30, 200)).convert("P", palette=Image.ADAPTIVE, colors=4)
    save("sub/palette.png", pal, "PNG", "blue")
    save("sub/cmyk.jpg", Image.new("CMYK", (90, 90), (0, 0, 0, 0)), "JPEG", "white")
    save("sub/deeper/photo.webp", Image.new("RGB", (100, 100), (200, 30, 30)), "WEBP", "red")
    save("sub/deeper/pic.bmp", Image.new("RGB", (40, 60), (30, 200, 30)), "BMP", "green")
    im16 = Image.fromarray(np.full((48, 48), 40000, dtype=np.uint16))  # 16-bit gray: ~155 in 8 bits
    save("sixteen.png", im16, "PNG", "gray155")
    big = Image.new("RGB", (1600, 1200), (30, 30, 200))        # exercises the JPEG draft path
    save("big.jpeg", big, "JPEG", "blue")
    (root / "fake.jpg").write_text("plain text pretending to be a JPEG\n")
    (root / "notes.txt").write_text("ignored: not an image extension\n")
    (root / ".hidden.jpg").write_text("ignored: hidden file\n")
    return expect


KIND_RGB = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200),
            "gray": (128, 128, 128), "white": (255, 255, 255), "gray155": (155, 155, 155)}


class PixelFeatures:
    """Stand-in extractor: 8x8 average-pooled pixels (192 features); same interface."""

    def __init__(self, device: str = "cpu", *a, **k):
        self.device = device

    def features(self, images, progress=None):
        x = np.asarray(images, np.float32) / 255.0
        s = x.shape[1] // 8
        f = x[:, : 8 * s, : 8 * s].reshape(len(x), 8, s, 8, s, 3).mean(axis=(2, 4)).reshape(len(x), -1)
        if progress:
            progress(len(x))
        return f + 1e-3 * np.random.default_rng(len(x)).standard_normal(f.shape).astype(np.float32)
