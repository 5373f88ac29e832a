"""``sst-hw infer`` on images: a ``.npy`` image or batch of images, and image
files (PNG and friends, written with Pillow), against the golden model of
the bundled Fashion-MNIST CNN; and the refusals (wrong size, shape, range,
unreadable file), each one ``error:`` line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sst_hw.cli import main
from sst_hw.format import modelfile
from sst_hw.format.random_model import random_convnet

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "models" / "fashion_up5k_cnn.sst"
MLP = ROOT / "models" / "digits.sst"


@pytest.fixture(scope="module")
def net():
    return modelfile.load(CNN)


@pytest.fixture(scope="module")
def images():
    """Five Fashion-MNIST test images, uint8 (5, 28, 28); random pixels if the
    data set is not installed."""
    from sst_hw.train.datasets import DatasetNotFound, load_dataset
    try:
        return load_dataset("fashion-mnist").x_test[:5].reshape(5, 28, 28)
    except DatasetNotFound:
        return np.random.default_rng(0).integers(0, 255, (5, 28, 28), np.uint8, True)


def infer_json(capsys, *argv, model=CNN):
    """Run ``sst-hw infer --port model --model MODEL --json ARGV``: exit status 0,
    nothing on stderr, the JSON rows."""
    assert main(["infer", "--port", "model", "--model", str(model), "--json", *map(str, argv)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return [json.loads(line) for line in out.splitlines()]


def refused(capsys, *argv, model=CNN):
    """Run ``sst-hw infer --port model --model MODEL ARGV``: exit status 2,
    nothing on stdout, one ``error:`` line on stderr (returned)."""
    assert main(["infer", "--port", "model", "--model", str(model), *map(str, argv)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sst-hw infer: error: "), err
    return lines[0]


def assert_golden(rows, net, x):
    """Every logit and class of ``rows`` equals the golden model's on ``x``."""
    logits, classes = net.forward(np.asarray(x, np.int64).reshape(len(x), -1))
    assert [r["index"] for r in rows] == list(range(len(x)))
    assert [r["logits"] for r in rows] == logits.tolist()
    assert [r["class"] for r in rows] == classes.tolist()


# -- the same pixels as .npy and as image files give the golden model's results ------------------

@pytest.mark.parametrize("i", [0, 3])
def test_npy_image_and_png_give_the_golden_results(i, net, images, tmp_path, capsys):
    img = images[i]
    np.save(tmp_path / "img.npy", img)                       # (28, 28)
    np.save(tmp_path / "img_c.npy", img[..., None])          # (28, 28, 1)
    Image.fromarray(img).save(tmp_path / "img.png")
    want = infer_json(capsys, tmp_path / "img.npy")
    assert_golden(want, net, img[None])
    assert infer_json(capsys, tmp_path / "img_c.npy") == want
    assert infer_json(capsys, tmp_path / "img.png") == want
    assert infer_json(capsys, tmp_path / "img.png", "--verify") == \
        [dict(want[0], matches_golden=True)]


@pytest.mark.parametrize("fmt", ["bmp", "pgm"])
def test_other_lossless_formats_and_an_rgb_png(fmt, net, images, tmp_path, capsys):
    img = images[1]
    Image.fromarray(img).save(tmp_path / f"img.{fmt}")
    assert_golden(infer_json(capsys, tmp_path / f"img.{fmt}"), net, img[None])
    # an RGB file of gray pixels converts back to the same grayscale
    Image.fromarray(np.stack([img] * 3, axis=-1)).save(tmp_path / "rgb.png")
    assert_golden(infer_json(capsys, tmp_path / "rgb.png"), net, img[None])


def test_a_batch_of_images(net, images, tmp_path, capsys):
    np.save(tmp_path / "b.npy", images)                                  # (5, 28, 28)
    rows = infer_json(capsys, tmp_path / "b.npy")
    assert len(rows) == len(images)
    assert_golden(rows, net, images)
    np.save(tmp_path / "b4.npy", images[..., None])                     # (5, 28, 28, 1)
    assert infer_json(capsys, tmp_path / "b4.npy") == rows
    np.save(tmp_path / "f.npy", images.astype(np.float32))              # exact floats
    assert infer_json(capsys, tmp_path / "f.npy") == rows
    np.save(tmp_path / "flat.npy", images.reshape(5, -1))              # (5, 784) as before
    assert infer_json(capsys, tmp_path / "flat.npy") == rows


def test_several_files_at_once(net, images, tmp_path, capsys):
    paths = []
    for i, img in enumerate(images[:3]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    np.save(tmp_path / "rest.npy", images[3:])
    rows = infer_json(capsys, *paths, tmp_path / "rest.npy")
    assert_golden(rows, net, images)


def test_an_rgb_model_takes_rgb_files(tmp_path, capsys):
    rgb = random_convnet(2, (6, 5, 3), [("conv", 2, 3, 1, 1), ("flatten",), ("dense", 3)])
    path = modelfile.save(rgb, tmp_path / "rgb.sst")
    img = np.random.default_rng(1).integers(0, 255, (6, 5, 3), np.uint8, True)
    Image.fromarray(img).save(tmp_path / "x.png")
    np.save(tmp_path / "x.npy", img)
    rows = infer_json(capsys, tmp_path / "x.png", model=path)
    assert_golden(rows, rgb, img[None])
    assert infer_json(capsys, tmp_path / "x.npy", model=path) == rows
    Image.fromarray(img[..., 0]).save(tmp_path / "gray.png")          # gray -> RGB
    assert_golden(infer_json(capsys, tmp_path / "gray.png", model=path), rgb,
                  np.repeat(img[None, ..., :1], 3, axis=-1))


def test_an_mlp_model_takes_a_png_as_it_is(tmp_path, capsys):
    """No input shape to check: the 8x8 png is 64 features, what digits takes."""
    mlp = modelfile.load(MLP)
    img = np.random.default_rng(2).integers(0, 255, (8, 8), np.uint8, True)
    Image.fromarray(img).save(tmp_path / "d.png")
    assert_golden(infer_json(capsys, tmp_path / "d.png", model=MLP), mlp, img[None])


# -- refusals --------------------------------------------------------------------------------------

def test_refuses_a_png_of_another_size(images, tmp_path, capsys):
    Image.fromarray(images[0][:27]).save(tmp_path / "small.png")         # 27 rows of 28
    err = refused(capsys, tmp_path / "small.png")
    assert "small.png is 28x27 pixels, the model takes 28x28 (width x height)" in err


def test_refuses_an_rgb_npy_for_the_gray_model(images, tmp_path, capsys):
    np.save(tmp_path / "rgb.npy", np.stack([images[0]] * 3, axis=-1))
    err = refused(capsys, tmp_path / "rgb.npy")
    assert "has shape (28, 28, 3); the model takes one image (28, 28) or (28, 28, 1)" in err
    np.save(tmp_path / "short.npy", images[0][:27])
    assert "has shape (27, 28)" in refused(capsys, tmp_path / "short.npy")
    np.save(tmp_path / "b.npy", images[:2, :, :27])
    assert "has shape (2, 28, 27)" in refused(capsys, tmp_path / "b.npy")


@pytest.mark.parametrize("value", [256, -1])
def test_refuses_values_out_of_range(value, tmp_path, capsys):
    x = np.zeros((28, 28), np.int64)
    x[3, 4] = value
    np.save(tmp_path / "x.npy", x)
    err = refused(capsys, tmp_path / "x.npy")
    assert "input values must be in 0..255 (8-bit unsigned)" in err


def test_refuses_floats_that_are_not_integers(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.full((28, 28), 0.5))
    assert "must hold integers (or floats that are exactly integers)" in \
        refused(capsys, tmp_path / "x.npy")
    np.save(tmp_path / "n.npy", np.full((28, 28), np.nan))
    assert "must hold integers" in refused(capsys, tmp_path / "n.npy")


def test_refuses_an_unreadable_image(tmp_path, capsys):
    (tmp_path / "x.png").write_bytes(b"not a picture")
    err = refused(capsys, tmp_path / "x.png")
    assert "x.png is neither a .npy array nor an image file Pillow reads" in err
    assert "no such input file" in refused(capsys, tmp_path / "none.png")


def test_refuses_a_16_bit_image(tmp_path, capsys):
    Image.fromarray(np.full((28, 28), 1000, np.uint16)).save(tmp_path / "x.png")
    assert "more than 8 bits" in refused(capsys, tmp_path / "x.png")


def test_refuses_an_image_file_for_a_model_whose_inputs_cannot_hold_its_pixels(tmp_path,
                                                                               capsys):
    signed = random_convnet(3, (4, 4, 1), [("conv", 2, 3), ("flatten",), ("dense", 2)],
                            input_signed=True)
    path = modelfile.save(signed, tmp_path / "s.sst")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.png")
    err = refused(capsys, tmp_path / "x.png", model=path)
    assert "pixels 0..255, the model takes inputs -128..127" in err


def test_refuses_an_image_file_for_a_model_of_two_channels(tmp_path, capsys):
    two = random_convnet(4, (4, 4, 2), [("conv", 2, 3), ("flatten",), ("dense", 2)])
    path = modelfile.save(two, tmp_path / "two.sst")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "x.png")
    assert "the model takes 2 channels per pixel" in refused(capsys, tmp_path / "x.png",
                                                             model=path)


def test_refuses_an_image_array_without_a_shape_to_check(images, tmp_path, capsys):
    np.save(tmp_path / "b.npy", images[:2, :8, :8])                     # (2, 8, 8)
    err = refused(capsys, tmp_path / "b.npy", model=MLP)
    assert "has shape (2, 8, 8); the model takes flat inputs" in err


def test_help_names_image_files(capsys):
    with pytest.raises(SystemExit):
        main(["infer", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ".png" in out and "(H, W[, C])" in out
