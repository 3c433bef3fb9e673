"""One decode-and-convert rule: the same odd files give the same arrays through the store's import +
StoreDataset decode as through predict's ``Preprocessing.decode`` (16-bit, palette with
transparency, RGBA, CMYK, EXIF-rotated, grey from colour)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autolit.datamodules.datasets import decode_record
from autolit.deploy.preprocessing import Preprocessing
from autolit.store import ImagePolicy, StoreReader
from autolit.store.importers import import_folder

SIZE = 24


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def odd_files() -> dict[str, bytes]:
    """Small (40x30) files in the modes predict and the store used to convert differently."""
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 65535, 40), (30, 1)).astype(np.uint16)  # (30, 40) 16-bit grey ramp
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, (30, 40), dtype=np.uint8)])
    palette = Image.fromarray(rgb, "RGB").quantize(16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    return {
        "grey16.png": _save(Image.fromarray(ramp), "PNG"),
        "palette_transparent.png": _save(palette, "PNG", transparency=3),
        "rgba.png": _save(Image.fromarray(rgba, "RGBA"), "PNG"),
        "cmyk.jpg": _save(Image.fromarray(rgb, "RGB").convert("CMYK"), "JPEG", quality=92),
        "rotated.jpg": _save(Image.fromarray(rgb, "RGB"), "JPEG", quality=92, exif=exif.tobytes()),
    }


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[dict[str, bytes], StoreReader, dict[str, bytes]]:
    """The odd files as a folder, imported losslessly (PNG) so only the conversion can differ."""
    root = tmp_path_factory.mktemp("odd")
    files = odd_files()
    (root / "images" / "odd").mkdir(parents=True)
    for name, data in files.items():
        (root / "images" / "odd" / name).write_bytes(data)
    import_folder(root / "images", root / "s", workers=1, policy=ImagePolicy(encode="PNG"))
    reader = StoreReader(root / "s")
    keys = {Path(reader.record(k)["source"]).name: k for k in reader.keys()}
    assert sorted(keys) == sorted(files)
    return files, reader, keys


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(odd_files()))
def test_training_and_predict_decode_the_same_pixels(imported, name, channels):
    files, reader, keys = imported
    trained, _ = decode_record(reader, keys[name], SIZE, channels)  # (C, S, S) what the loaders serve
    predicted = Preprocessing(image_size=SIZE, channels=channels, mean=[0.0] * channels,
                              std=[1.0] * channels).decode(files[name])  # predict's path, original file
    assert trained.shape == predicted.shape == (channels, SIZE, SIZE)
    assert np.array_equal(trained, predicted), f"{name}: max difference {np.abs(trained - predicted.astype(int)).max()}"


def test_a_16_bit_png_is_scaled_not_clipped_by_predict():
    pre = Preprocessing(image_size=SIZE, channels=1, mean=[0.0], std=[1.0])
    mean = float(pre.decode(odd_files()["grey16.png"]).mean())
    assert 120 < mean < 135  # a 0..65535 ramp scaled to 0..255; clipping gave ~254


def test_exif_rotation_is_applied_on_both_paths(imported):
    files, reader, keys = imported
    header = reader.record(keys["rotated.jpg"])
    assert (header["width"], header["height"]) == (30, 40)  # stored upright (turned by the EXIF tag)


def test_a_photo_the_store_downsized_gives_the_same_pixels_to_predict(tmp_path):
    """The store bounds a photo's long side and re-encodes it before training ever sees it; predict
    applies that same import (the export records the store's policy) to the original file."""
    from autolit.datamodules import StoreDataModule

    rng = np.random.default_rng(1)
    noisy = (rng.normal(128, 60, (300, 400, 3)) + np.linspace(0, 80, 400)[None, :, None]).clip(0, 255)
    photo = _save(Image.fromarray(noisy.astype(np.uint8), "RGB"), "JPEG", quality=95)
    (tmp_path / "images" / "a").mkdir(parents=True)
    for i in range(3):  # the folder importer keeps unique images only
        (tmp_path / "images" / "a" / f"{i}.jpg").write_bytes(photo if i == 0 else _save(
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8), "RGB"), "JPEG"))
    import_folder(tmp_path / "images", tmp_path / "s", workers=1, policy=ImagePolicy(max_side=96))
    reader = StoreReader(tmp_path / "s")
    key = next(k for k in reader.keys() if reader.record(k)["source"].endswith("0.jpg"))
    trained, _ = decode_record(reader, key, SIZE, 3)

    hparams = {"preprocessing": StoreDataModule(store=str(tmp_path / "s"), image_size=SIZE).preprocessing,
               "input_shape": [3, SIZE, SIZE]}
    pre = Preprocessing.from_hparams(hparams)  # what the export writes to preprocessing.json
    assert pre.store_policy == reader.meta.policy.to_dict()
    assert np.array_equal(pre.decode(photo), trained)
    direct = Preprocessing(image_size=SIZE, channels=3, mean=[0.0] * 3, std=[1.0] * 3).decode(photo)
    assert not np.array_equal(direct, trained)  # an export without the policy (before it was recorded) differs
