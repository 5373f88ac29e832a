"""Model file version 2 (convolutional networks): round trips, the header
written, version 1 unchanged beside it, and one test per way a version 2 file
can be malformed, each refused naming the file, the layer and the problem."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.format.conv import Flatten
from sst_hw.format.convnet import ConvNetwork
from sst_hw.format.golden import Network
from sst_hw.format.modelfile import ModelFormatError, load, save
from sst_hw.format.random_model import random_convnet

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "models" / "digits.sst"

#: A small valid chain: 6x5x3 -> conv 4 (3x3, p1) -> mp2 (3x2x4) -> conv 5 (1x1) ->
#: flatten (30) -> dense 6 -> dense 3.
SPEC = [("conv", 4, 3, 1, 1), ("pool", 2), ("conv", 5, 1), ("flatten",), ("dense", 6),
        ("dense", 3)]


def small(seed=0, **kw):
    return random_convnet(seed, (6, 5, 3), SPEC, **kw)


def images(net, batch, seed):
    return np.random.default_rng(seed).integers(*net.input_range,
                                                size=(batch,) + net.input_shape,
                                                endpoint=True)


# -- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("opts", [
    {},
    {"floats": False, "shift_mode": True},
    {"input_width": 6, "input_signed": True, "relu": False, "act_width": 5},
    {"n": 4, "k": 1, "variant": "partitioned", "assignment": "direct",
     "meta": {"dataset": "fashion-mnist", "accuracy": 0.9, "arch": [1, 2]}},
])
def test_round_trip(tmp_path, opts):
    net = small(3, **opts)
    path = save(net, tmp_path / "cnn.sst")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.sst"]
    back = load(path)
    assert isinstance(back, ConvNetwork) and back == net
    assert back.meta == opts.get("meta", {})
    assert back.kinds == net.kinds and back.shapes == net.shapes
    x = images(net, 4, 1)
    for got, want in zip(back.forward(x), net.forward(x)):
        np.testing.assert_array_equal(got, want)
    for a, b in zip(back.sst_layers(), net.sst_layers()):
        assert (a.alpha is None) == (b.alpha is None) == (opts.get("floats") is False)


def test_round_trip_awkward_geometry(tmp_path):
    net = random_convnet(5, (9, 7, 2), [("conv", 3, (1, 5), 2, (0, 2)), ("pool", 3),
                                        ("flatten",), ("dense", 4)])
    back = load(save(net, tmp_path / "m.sst"))
    assert back == net
    assert (back.layers[0].kh, back.layers[0].kw, back.layers[0].stride,
            back.layers[0].pad) == (1, 5, 2, (0, 2))
    assert back.layers[1].kernel == 3


def test_header_written(tmp_path):
    net = small(1)
    net.meta = {"note": "x", "n": np.int64(3)}
    path = save(net, tmp_path / "m.sst")
    with np.load(path, allow_pickle=False) as z:
        head = json.loads(z["header"].tobytes())
        files = sorted(z.files)
    conv0, conv2 = net.layers[0].layer, net.layers[2].layer
    sst = {"n": 8, "k": 2, "variant": "full", "assignment": "enum", "act_width": 8,
           "arrays": ["codes", "mult", "add", "alpha", "bias"]}
    assert head == {
        "format": "sst-hw-model", "version": 2,
        "input": {"shape": [6, 5, 3], "width": 8, "signed": False},
        "meta": {"note": "x", "n": 3},
        "layers": [
            {"kind": "conv2d", "in_channels": 3, "out_channels": 4, "kh": 3, "kw": 3,
             "stride": 1, "pad": [1, 1], "shift": conv0.shift, "relu": True} | sst,
            {"kind": "maxpool", "kernel": 2, "stride": 2},
            {"kind": "conv2d", "in_channels": 4, "out_channels": 5, "kh": 1, "kw": 1,
             "stride": 1, "pad": [0, 0], "shift": conv2.shift, "relu": True} | sst,
            {"kind": "flatten"},
            {"kind": "dense", "in_features": 30, "out_features": 6,
             "shift": net.layers[4].shift, "relu": True} | sst,
            {"kind": "dense", "in_features": 6, "out_features": 3, "shift": 0,
             "relu": False} | sst]}
    assert files == sorted(["header"] + [f"layer{i}.{a}" for i in (0, 2, 4, 5)
                                         for a in ("codes", "mult", "add", "alpha", "bias")])
    with np.load(path, allow_pickle=False) as z:
        assert z["layer0.codes"].shape == (4, 4)          # 27 weights: 4 subvectors of 8
        assert z["layer2.codes"].shape == (5, 1) and z["layer2.codes"].dtype == np.int64
        assert z["layer4.alpha"].dtype == np.float32


def test_all_dense_conv_network_stays_version_2(tmp_path):
    mlp = Network.random(2, [12, 4, 3], 8, 2)
    net = ConvNetwork([Flatten((2, 2, 3))] + mlp.layers, (2, 2, 3))
    back = load(save(net, tmp_path / "m.sst"))
    assert isinstance(back, ConvNetwork) and back == net
    assert back.as_network() == mlp


def test_version_1_unchanged(tmp_path):
    net = load(DIGITS)
    assert isinstance(net, Network)
    again = save(net, tmp_path / "digits.sst")
    assert again.read_bytes() == DIGITS.read_bytes()      # version 1, byte for byte
    with np.load(again, allow_pickle=False) as z:
        assert json.loads(z["header"].tobytes())["version"] == 1


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="network must be a Network or a ConvNetwork, not list"):
        save([], tmp_path / "m.sst")


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = save(small(1), tmp_path / "m.sst")
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save(small(2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sst"]


# -- malformed version 2 files ------------------------------------------------------------

@pytest.fixture
def parts():
    """(header, arrays) of :func:`small`, as plain dicts to break."""
    net = small(4)
    head = modelfile.header(net)
    arrays = {}
    for i, layer in enumerate(net.layers):
        g = getattr(layer, "layer", layer)
        if hasattr(g, "codes"):
            for a in ("codes", "mult", "add", "alpha", "bias"):
                arrays[f"layer{i}.{a}"] = np.array(getattr(g, a))
    return head, arrays


def write(path, head, arrays):
    with open(path, "wb") as f:                 # a file object: savez adds no .npz
        np.savez(f, header=np.frombuffer(json.dumps(head).encode(), np.uint8), **arrays)
    return path


def expect(tmp_path, head, arrays, message):
    path = write(tmp_path / "m.sst", head, arrays)
    with pytest.raises(ModelFormatError, match=re.escape(message)) as info:
        load(path)
    assert str(info.value).startswith(f"model file {str(path)!r}: ")


def drop(head, arrays, i):
    """Remove layer ``i``, renumbering the arrays of the layers after it."""
    del head["layers"][i]
    out = {}
    for key, value in arrays.items():
        j, name = key[len("layer"):].split(".")
        j = int(j)
        if j != i:
            out[f"layer{j - (j > i)}.{name}"] = value
    return out


def test_valid_parts_load(tmp_path, parts):
    net = load(write(tmp_path / "m.sst", *parts))
    assert net.kinds == ["conv2d", "maxpool", "conv2d", "flatten", "dense", "dense"]


def test_unknown_and_missing_kind(tmp_path, parts):
    head, arrays = parts
    head["layers"][1]["kind"] = "avgpool"
    expect(tmp_path, head, arrays,
           "layer 1: unknown kind 'avgpool' (one of conv2d, maxpool, flatten, dense)")
    del head["layers"][1]["kind"]
    expect(tmp_path, head, arrays,
           "layer 1: missing key 'kind' (one of conv2d, maxpool, flatten, dense)")
    head["layers"][1] = ["maxpool"]
    expect(tmp_path, head, arrays, "layer 1: must be a JSON object, not list")


def test_missing_and_extra_keys(tmp_path, parts):
    head, arrays = parts
    del head["layers"][0]["pad"]
    expect(tmp_path, head, arrays, "layer 0 (conv2d): missing key(s) 'pad'")
    head["layers"][0]["pad"] = [1, 1]
    head["layers"][3]["in_shape"] = [3, 2, 5]
    expect(tmp_path, head, arrays, "layer 3 (flatten): unknown key(s) 'in_shape'")
    del head["layers"][3]["in_shape"]
    head["layers"][1]["stride"] = "2"
    expect(tmp_path, head, arrays, "layer 1 (maxpool): 'stride' must be a JSON int, not '2'")
    head["layers"][1]["stride"] = 2
    head["layers"][4]["in_features"] = 30.0
    expect(tmp_path, head, arrays,
           "layer 4 (dense): 'in_features' must be a JSON int, not 30.0")


def test_input_refusals(tmp_path, parts):
    head, arrays = parts
    head["input"] = {"width": 8, "signed": False}
    expect(tmp_path, head, arrays, "input: missing key(s) 'shape'")
    head["input"] = {"shape": [6, 5], "width": 8, "signed": False}
    expect(tmp_path, head, arrays, "input: shape must be (H, W, C), not [6, 5]")
    head["input"] = {"shape": [6, 0, 3], "width": 8, "signed": False}
    expect(tmp_path, head, arrays, "input: shape[1] (W) must be in 1..")
    head["input"] = {"shape": [6, 5, 3], "width": 40, "signed": False}
    expect(tmp_path, head, arrays, "input_width must be in 1..32, not 40")


def test_kernel_larger_than_the_input(tmp_path, parts):
    head, arrays = parts
    # layer 2 reads the 3x2x4 map of the max-pool; a 3x3 kernel without padding does not fit
    head["layers"][2].update(kh=3, kw=3)
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): kernel 3x3 is larger than the padded input 3x2 (H=3, W=2, "
           "pad=(0, 0))")


def test_channel_count_mismatch(tmp_path, parts):
    head, arrays = parts
    head["layers"][2]["in_channels"] = 3
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): in_channels is 3 but layer 1 (maxpool) gives 4 channels (3x2x4)")
    head["layers"][2]["in_channels"] = 4
    head["input"]["shape"] = [6, 5, 1]
    expect(tmp_path, head, arrays,
           "layer 0 (conv2d): in_channels is 3 but the input gives 1 channels (6x5x1)")


def test_dense_in_features_not_the_flatten_size(tmp_path, parts):
    head, arrays = parts
    head["layers"][4]["in_features"] = 32
    expect(tmp_path, head, arrays,
           "layer 4 (dense): in_features is 32 but layer 3 (flatten) gives 30 features")


def test_padding_beyond_half_the_kernel(tmp_path, parts):
    head, arrays = parts
    head["layers"][0]["pad"] = [2, 1]
    expect(tmp_path, head, arrays,
           "layer 0 (conv2d): padding pad_h must be in 0..1 for kernel height 3, not 2")
    head["layers"][0]["pad"] = [1]
    expect(tmp_path, head, arrays, "layer 0 (conv2d): 'pad' must be [pad_h, pad_w], not [1]")
    head["layers"][0]["pad"] = [1, True]
    expect(tmp_path, head, arrays,
           "layer 0 (conv2d): padding pad_w must be an integer, not True")


def test_conv_stride_3(tmp_path, parts):
    head, arrays = parts
    head["layers"][0]["stride"] = 3
    expect(tmp_path, head, arrays, "layer 0 (conv2d): stride must be 1 or 2, not 3")


def test_kernel_out_of_range(tmp_path, parts):
    head, arrays = parts
    head["layers"][2].update(kh=0)
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): kernel height kh must be in 1..7, not 0")


@pytest.mark.parametrize("change, message", [
    ({"kernel": 4}, "layer 1 (maxpool): max-pool kernel must be 2 or 3, not 4"),
    ({"stride": 1}, "layer 1 (maxpool): max-pool stride must be 2, not 1"),
])
def test_pool_refusals(tmp_path, parts, change, message):
    head, arrays = parts
    head["layers"][1].update(change)
    expect(tmp_path, head, arrays, message)


def test_pool_larger_than_its_input(tmp_path, parts):
    head, arrays = parts
    head["layers"][1]["kernel"] = 3
    head["layers"][0].update(stride=2)              # conv 3x3x4, pool 3 -> 1x1x4: it fits,
    expect(tmp_path, head, arrays,                  # the dense layer no longer does
           "layer 4 (dense): in_features is 30 but layer 3 (flatten) gives 5 features")
    head["input"]["shape"] = [2, 5, 3]              # conv 1x3x4: no 3x3 window fits
    expect(tmp_path, head, arrays,
           "layer 1 (maxpool): max-pool kernel 3x3 is larger than the input 1x3")


def test_dense_after_conv_without_flatten(tmp_path, parts):
    head, arrays = parts
    arrays = drop(head, arrays, 3)
    expect(tmp_path, head, arrays,
           "layer 3 (dense): reads a vector but layer 2 (conv2d) gives a 3x2x5 tensor: put a "
           "flatten before it")


def test_spatial_layer_after_flatten(tmp_path, parts):
    head, arrays = parts
    head["layers"].insert(4, {"kind": "maxpool", "kernel": 2, "stride": 2})
    expect(tmp_path, head, arrays,
           "layer 4 (maxpool): reads an (H, W, C) tensor but layer 3 (flatten) gives 30 "
           "features")


def test_last_layer_not_dense(tmp_path, parts):
    head, arrays = parts
    head["layers"] = head["layers"][:4]
    expect(tmp_path, head, arrays,
           "layer 3 (flatten): the last layer must be dense (it gives the logits), not flatten")


def test_wrong_array_shape(tmp_path, parts):
    head, arrays = parts
    codes = arrays["layer0.codes"]
    arrays["layer0.codes"] = codes[:, :3]
    expect(tmp_path, head, arrays,
           "layer 0 (conv2d): array 'layer0.codes' has shape (4, 3), expected (out_channels, "
           "ceil(kh*kw*in_channels / N)) = (4, 4) (kh=3, kw=3, in_channels=3, out_channels=4, "
           "N=8)")
    arrays["layer0.codes"] = codes
    arrays["layer2.mult"] = arrays["layer2.mult"][:4]
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): array 'layer2.mult' has shape (4,), expected (out_channels,) = "
           "(5,)")
    arrays["layer2.mult"] = np.ones(5, np.int64)
    head["layers"][2]["out_channels"] = 0
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): out_channels must be a positive integer, not 0")


def test_channel_count_against_the_codes(tmp_path, parts):
    # out_channels says 6 but the next layer was built for 5: the codes say so first
    head, arrays = parts
    head["layers"][2]["out_channels"] = 6
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): array 'layer2.codes' has shape (5, 1), expected (out_channels, "
           "ceil(kh*kw*in_channels / N)) = (6, 1)")


def test_wrong_dtype(tmp_path, parts):
    head, arrays = parts
    arrays["layer2.codes"] = arrays["layer2.codes"].astype(np.int32)
    expect(tmp_path, head, arrays,
           "layer 2 (conv2d): array 'layer2.codes' must have dtype int64, not int32")
    arrays["layer2.codes"] = arrays["layer2.codes"].astype(np.int64)
    arrays["layer5.bias"] = arrays["layer5.bias"].astype(np.float64)
    expect(tmp_path, head, arrays,
           "layer 5 (dense): array 'layer5.bias' must have dtype float32, not float64")


def test_nan_in_alpha(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.alpha"][2] = np.nan
    expect(tmp_path, head, arrays,
           "layer 0 (conv2d): array 'layer0.alpha' holds nan (NaN or inf) at row 2")


def test_missing_and_unexpected_arrays(tmp_path, parts):
    head, arrays = parts
    arrays["layer1.codes"] = arrays["layer0.codes"]
    expect(tmp_path, head, arrays, "unexpected array(s) 'layer1.codes'")
    del arrays["layer1.codes"]
    del arrays["layer2.add"]
    expect(tmp_path, head, arrays, "layer 2 (conv2d): array 'layer2.add' is missing")


def test_codes_and_requantization_checked(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.codes"][1, 3] = 255            # (8,2) enum uses codes 0..128
    expect(tmp_path, head, arrays,
           "layer 0 (conv2d): code 255 at row 1, subvector 3 is not a used code")
    arrays["layer0.codes"][1, 3] = 0              # the zero code: valid anywhere
    arrays["layer2.add"][0] = 1 << 60
    expect(tmp_path, head, arrays, f"layer 2 (conv2d): add (C) {1 << 60} at row 0 is out of "
                                   f"range")
    arrays["layer2.add"][0] = 0
    head["layers"][2]["shift"] = 64
    expect(tmp_path, head, arrays, "layer 2 (conv2d): shift must be in 0..63, not 64")
    head["layers"][2]["shift"] = 3
    head["layers"][2]["variant"] = "sparse"
    expect(tmp_path, head, arrays, "layer 2 (conv2d): bad codebook: variant must be one of")


def test_version_1_layers_in_a_version_2_file(tmp_path):
    mlp = Network.random(4, [10, 3, 2], 8, 2)
    head = modelfile.header(mlp) | {"version": 2}
    arrays = {f"layer{i}.{a}": np.array(getattr(layer, a))
              for i, layer in enumerate(mlp.layers)
              for a in ("codes", "mult", "add", "alpha", "bias")}
    expect(tmp_path, head, arrays, "input: missing key(s) 'shape'")
    head["input"] = {"shape": [1, 1, 10], "width": 8, "signed": False}
    expect(tmp_path, head, arrays, "layer 0: missing key 'kind'")
