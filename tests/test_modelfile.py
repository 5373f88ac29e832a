"""The model file: round trips and one test per way a file can be malformed."""

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sst_hw.format import modelfile
from sst_hw.format.codebook import Codebook
from sst_hw.format.golden import Network
from sst_hw.format.modelfile import ModelFormatError, load, save

CODEBOOKS = [(8, 2, "full", "enum"), (8, 2, "full", "direct"), (8, 2, "partitioned", "enum"),
             (8, 2, "partitioned", "direct"), (4, 1, "full", "enum"), (6, 3, "partitioned",
                                                                      "direct"),
             (16, 4, "full", "enum")]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), cb=st.sampled_from(CODEBOOKS),
       sizes=st.lists(st.integers(1, 20), min_size=2, max_size=5),
       signed=st.booleans(), relu=st.booleans(), floats=st.booleans(), shift_mode=st.booleans(),
       meta=st.dictionaries(st.text(max_size=5), st.one_of(
           st.integers(-10 ** 6, 10 ** 6), st.floats(allow_nan=False, allow_infinity=False),
           st.text(max_size=8), st.booleans(), st.none()), max_size=3))
def test_round_trip(seed, cb, sizes, signed, relu, floats, shift_mode, meta):
    net = Network.random(seed, sizes, *cb, input_width=7 if signed else 8,
                         input_signed=signed, relu=relu, floats=floats, shift_mode=shift_mode)
    net.meta = meta
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.npz"
        assert save(net, path) == path
        assert os.listdir(d) == ["model.npz"]
        back = load(path)
    assert back == net
    assert back.meta == meta
    for a, b in zip(back.layers, net.layers):
        assert a.codes.dtype == np.int64 and a.mult.dtype == np.int64
        assert (a.alpha is None) == (not floats)
    x = np.random.default_rng(seed).integers(*net.input_range, size=(5, sizes[0]),
                                             endpoint=True)
    for got, want in zip(back.forward(x), net.forward(x)):
        np.testing.assert_array_equal(got, want)


def test_file_contents(tmp_path):
    net = Network.random(1, [10, 6, 3], 8, 2, "partitioned", "direct")
    net.meta = {"dataset": "digits", "accuracy": np.float32(0.5), "hist": np.arange(3)}
    path = save(net, tmp_path / "m.bin")            # exactly the name given
    assert path == tmp_path / "m.bin" and path.exists()
    assert (os.stat(path).st_mode & 0o777) == 0o666 & ~_umask()
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(
            ["header"] + [f"layer{i}.{a}" for i in range(2)
                          for a in ("codes", "mult", "add", "alpha", "bias")])
        head = json.loads(z["header"].tobytes())
    assert head["format"] == "sst-hw-model" and head["version"] == 1
    assert head["input"] == {"width": 8, "signed": False}
    assert head["meta"] == {"dataset": "digits", "accuracy": 0.5, "hist": [0, 1, 2]}
    assert head["layers"][0] == {
        "in_features": 10, "out_features": 6, "n": 8, "k": 2, "variant": "partitioned",
        "assignment": "direct", "shift": net.layers[0].shift, "relu": True, "act_width": 8,
        "arrays": ["codes", "mult", "add", "alpha", "bias"]}
    assert head == modelfile.header(net) | {"meta": head["meta"]}


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    net = Network.random(2, [9, 4, 2], 4, 2)
    path = tmp_path / "m.npz"
    save(net, path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save(Network.random(3, [9, 4, 2], 4, 2), path)
    assert path.read_bytes() == before
    with pytest.raises(OSError, match="disk full"):
        save(net, tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_refuses_unserialisable_meta(tmp_path):
    net = Network.random(2, [9, 2], 4, 2)
    net.meta = {"f": open}
    with pytest.raises(ModelFormatError, match="model meta is not JSON-serialisable"):
        save(net, tmp_path / "m.npz")
    net.meta = {"x": float("nan")}
    with pytest.raises(ModelFormatError, match="model meta is not JSON-serialisable"):
        save(net, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")


# -- malformed files: build a valid one, break one thing, check the message ---------------


@pytest.fixture
def parts():
    """(header dict, arrays dict) of a valid two-layer model: 10 -> 3 -> 2, (8,2) enum."""
    net = Network.random(4, [10, 3, 2], 8, 2)
    head = modelfile.header(net)
    arrays = {}
    for i, layer in enumerate(net.layers):
        for a in ("codes", "mult", "add", "alpha", "bias"):
            arrays[f"layer{i}.{a}"] = np.array(getattr(layer, a))
    return head, arrays


def write(path, head, arrays):
    raw = np.frombuffer(json.dumps(head).encode(), np.uint8) if head is not None else None
    items = dict(arrays)
    if raw is not None:
        items["header"] = raw
    np.savez(path, **items)
    return path


def expect(path, message):
    with pytest.raises(ModelFormatError, match=re.escape(message)) as info:
        load(path)
    assert str(info.value).startswith(f"model file {str(path)!r}: ")
    assert isinstance(info.value, ValueError)


def test_valid_parts_load(tmp_path, parts):
    net = load(write(tmp_path / "m.npz", *parts))
    assert [layer.out_features for layer in net.layers] == [3, 2]


def test_not_a_zip(tmp_path):
    p = tmp_path / "m.npz"
    p.write_bytes(b"hello, world")
    expect(p, "not an .npz (zip) archive (starts with b'hell')")
    np.save(tmp_path / "a.npy", np.zeros(3))
    expect(tmp_path / "a.npy", "not an .npz (zip) archive (starts with b'\\x93NUM')")


def test_truncated(tmp_path, parts):
    p = write(tmp_path / "m.npz", *parts)
    data = p.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        p.write_bytes(data[:cut])
        expect(p, "truncated or corrupt zip archive (no central directory)")


def test_corrupt_member(tmp_path, parts):
    p = write(tmp_path / "m.npz", *parts)
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("layer0.codes.npy")
    data = bytearray(p.read_bytes())
    local = info.header_offset        # local header: name and extra lengths at 26..29
    name_len, extra_len = (int.from_bytes(data[local + o:local + o + 2], "little")
                           for o in (26, 28))
    start = local + 30 + name_len + extra_len
    data[start + info.compress_size - 1] ^= 0xFF     # the last byte of the array's data
    p.write_bytes(bytes(data))
    expect(p, "array 'layer0.codes' cannot be read: BadZipFile: Bad CRC-32")


def test_object_array_refused(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.bias"] = np.array([1.0, "x", None], dtype=object)
    p = write(tmp_path / "m.npz", head, arrays)
    expect(p, "array 'layer0.bias' cannot be read: ValueError: Object arrays cannot be loaded")


def test_missing_header(tmp_path, parts):
    expect(write(tmp_path / "m.npz", None, parts[1]),
           "missing the 'header' array: not an sst-hw model file")


def test_header_not_json(tmp_path, parts):
    p = tmp_path / "m.npz"
    np.savez(p, header=np.frombuffer(b"{not json", np.uint8), **parts[1])
    expect(p, "'header' is not UTF-8 JSON")
    np.savez(p, header=np.zeros(3, np.int32), **parts[1])
    expect(p, "'header' must be a 1-D uint8 array, not int32 (3,)")
    np.savez(p, header=np.frombuffer(b"[1, 2]", np.uint8), **parts[1])
    expect(p, "'header' must be a JSON object, not list")


def test_wrong_format_name(tmp_path, parts):
    head, arrays = parts
    expect(write(tmp_path / "m.npz", head | {"format": "onnx"}, arrays),
           "not an sst-hw-model file (format 'onnx')")
    del head["format"]
    expect(write(tmp_path / "m.npz", head, arrays), "not an sst-hw-model file (format None)")


def test_wrong_version(tmp_path, parts):
    head, arrays = parts
    expect(write(tmp_path / "m.npz", head | {"version": 3}, arrays),
           "unsupported format version 3 (this reader knows versions 1, 2)")
    expect(write(tmp_path / "m.npz", head | {"version": "1"}, arrays),
           "unsupported format version '1' (this reader knows versions 1, 2)")
    expect(write(tmp_path / "m.npz", head | {"version": 1.0}, arrays),
           "unsupported format version 1.0")


def test_header_keys(tmp_path, parts):
    head, arrays = parts
    p = tmp_path / "m.npz"
    expect(write(p, head | {"extra": 1}, arrays), "header: unknown key(s) 'extra'")
    expect(write(p, {k: v for k, v in head.items() if k != "meta"}, arrays),
           "header: missing key(s) 'meta'")
    expect(write(p, head | {"layers": []}, arrays), "header: 'layers' is empty")
    expect(write(p, head | {"meta": [1]}, arrays), "header: 'meta' must be a JSON dict, not [1]")
    del head["layers"][1]["shift"]
    expect(write(p, head, arrays), "layer 1: missing key(s) 'shift'")
    head["layers"][1]["shift"] = 0
    head["layers"][0]["relu"] = 1
    expect(write(p, head, arrays), "layer 0: 'relu' must be a JSON bool, not 1")
    head["layers"][0]["relu"] = True
    head["layers"][0]["act_width"] = True
    expect(write(p, head, arrays), "layer 0: 'act_width' must be a JSON int, not True")
    head["layers"][0]["act_width"] = 8
    head["layers"][0]["colour"] = "red"
    expect(write(p, head, arrays), "layer 0: unknown key(s) 'colour'")
    del head["layers"][0]["colour"]
    head["input"] = {"width": 8}
    expect(write(p, head, arrays), "input: missing key(s) 'signed'")
    head["input"] = {"width": 40, "signed": False}
    expect(write(p, head, arrays), "input_width must be in 1..32, not 40")


def test_bad_codebook(tmp_path, parts):
    head, arrays = parts
    head["layers"][0]["k"] = 3
    head["layers"][0]["variant"] = "partitioned"
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: bad codebook: partitioned codebooks need N divisible by K, not N=8, K=3")
    head["layers"][0]["variant"] = "sparse"
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: bad codebook: variant must be one of full, partitioned, not 'sparse'")


def test_missing_array(tmp_path, parts):
    head, arrays = parts
    del arrays["layer1.mult"]
    expect(write(tmp_path / "m.npz", head, arrays), "layer 1: array 'layer1.mult' is missing")


def test_arrays_list(tmp_path, parts):
    head, arrays = parts
    head["layers"][0]["arrays"] = ["mult", "add"]
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: 'arrays' must list codes, mult, add; codes missing")
    head["layers"][0]["arrays"] = ["codes", "mult", "add", "gamma"]
    expect(write(tmp_path / "m.npz", head, arrays), "layer 0: 'arrays' must list distinct names")


def test_optional_arrays_absent(tmp_path, parts):
    head, arrays = parts
    for i in range(2):
        head["layers"][i]["arrays"] = ["codes", "mult", "add"]
        del arrays[f"layer{i}.alpha"], arrays[f"layer{i}.bias"]
    net = load(write(tmp_path / "m.npz", head, arrays))
    assert all(layer.alpha is None and layer.bias is None for layer in net.layers)


def test_unexpected_array(tmp_path, parts):
    head, arrays = parts
    arrays["junk"] = np.zeros(2)
    expect(write(tmp_path / "m.npz", head, arrays), "unexpected array(s) 'junk'")
    head["layers"][0]["arrays"] = ["codes", "mult", "add", "bias"]
    del arrays["junk"]
    expect(write(tmp_path / "m.npz", head, arrays), "unexpected array(s) 'layer0.alpha'")


def test_shape_mismatch(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.codes"] = arrays["layer0.codes"][:, :1]
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: array 'layer0.codes' has shape (3, 1), expected (out_features, "
           "ceil(in_features / N)) = (3, 2) (in_features=10, out_features=3, N=8)")
    head, arrays = parts
    arrays["layer0.codes"] = np.zeros((3, 2), np.int64)
    arrays["layer1.mult"] = np.ones(3, np.int64)
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 1: array 'layer1.mult' has shape (3,), expected (out_features,) = (2,)")
    head["layers"][0]["in_features"] = 0
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: in_features must be a positive integer, not 0")


def test_wrong_dtype(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.codes"] = arrays["layer0.codes"].astype(np.int32)
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: array 'layer0.codes' must have dtype int64, not int32")
    head, arrays = parts
    arrays["layer0.codes"] = arrays["layer0.codes"].astype(np.int64)
    arrays["layer1.alpha"] = arrays["layer1.alpha"].astype(np.float64)
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 1: array 'layer1.alpha' must have dtype float32, not float64")


def test_code_out_of_range(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.codes"][2, 0] = 256
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: code 256 at row 2, subvector 0 is out of range 0..255 "
           "(8-bit codes of full/enum (8,2))")
    arrays["layer0.codes"][2, 0] = -1
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: code -1 at row 2, subvector 0 is out of range 0..255")


def test_unused_code(tmp_path, parts):
    head, arrays = parts
    assert Codebook(8, 2).size == 129           # codes 129..255 are unused
    arrays["layer1.codes"][1, 0] = 200
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 1: code 200 at row 1, subvector 0 is not a used code of full/enum (8,2)")


def test_unused_direct_code(tmp_path):
    net = Network.random(4, [8, 2], 6, 3, "partitioned", "direct")   # 3-bit fields, 5..7 unused
    head = modelfile.header(net)
    arrays = {"layer0.codes": np.array([[0b111], [0]], np.int64),
              "layer0.mult": np.ones(2, np.int64), "layer0.add": np.zeros(2, np.int64),
              "layer0.alpha": net.layers[0].alpha, "layer0.bias": net.layers[0].bias}
    head["layers"][0]["in_features"] = 6
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: code 7 at row 0, subvector 0 is not a used code of "
           "partitioned/direct (6,3)")


def test_code_in_padding(tmp_path, parts):
    head, arrays = parts
    cb = Codebook(8, 2)
    code = int(cb.encode(np.eye(8, dtype=np.int8)[[5]])[0])    # +1 at position 5
    arrays["layer0.codes"][1, 1] = code                         # only 0..1 are weights
    expect(write(tmp_path / "m.npz", head, arrays),
           f"layer 0: code {code} at row 1 (last subvector) has a non-zero at padding "
           "position 5: only positions 0..1 of the last subvector are weights "
           "(in_features=10, N=8)")


def test_mult_range(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.mult"][1] = 40000
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0: multiplier 40000 at row 1 does not fit 16-bit signed (-32768..32767)")
    arrays["layer0.mult"][1] = -32769
    expect(write(tmp_path / "m.npz", head, arrays), "multiplier -32769 at row 1 does not fit")


def test_shift_range(tmp_path, parts):
    head, arrays = parts
    head["layers"][0]["shift"] = 64
    expect(write(tmp_path / "m.npz", head, arrays), "layer 0: shift must be in 0..63, not 64")
    head["layers"][0]["shift"] = -1
    expect(write(tmp_path / "m.npz", head, arrays), "layer 0: shift must be in 0..63, not -1")


def test_add_range(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.add"][0] = 1 << 60
    expect(write(tmp_path / "m.npz", head, arrays),
           f"layer 0: add (C) {1 << 60} at row 0 is out of range")


def test_layer_chain_mismatch(tmp_path, parts):
    head, arrays = parts
    head["layers"][1]["in_features"] = 4         # layer 0 has 3 outputs
    expect(write(tmp_path / "m.npz", head, arrays),
           "layer 0 has 3 outputs but layer 1 has 4 inputs")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_in_floats(tmp_path, parts, bad):
    head, arrays = parts
    arrays["layer1.bias"][1] = bad
    expect(write(tmp_path / "m.npz", head, arrays),
           f"layer 1: array 'layer1.bias' holds {np.float32(bad)} (NaN or inf) at row 1")


def test_negative_alpha(tmp_path, parts):
    head, arrays = parts
    arrays["layer0.alpha"][2] = -0.5
    expect(write(tmp_path / "m.npz", head, arrays), "layer 0: alpha must be >= 0, not -0.5")

