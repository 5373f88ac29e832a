"""The host side of the UART protocol: codec, device model, clients, transports, CLI."""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest

from sst_hw.format import modelfile
from sst_hw.cli import main
from sst_hw.format.golden import Network
from sst_hw.host.client import AsyncClient, Client, ReplyTimeout
from sst_hw.host.device_model import DeviceModel
from sst_hw.host.transport import ModelTransport
from sst_hw.link.wire import (
    CMD_ERROR,
    CMD_INFER,
    CMD_INFO,
    INFO_STRUCT,
    SYNC,
    DeviceError,
    DeviceInfo,
    ErrorCode,
    FrameReader,
    ModelMismatch,
    ProtocolError,
    crc16,
    encode_frame,
    model_id)

from support.async_transport import AsyncTransport


@pytest.fixture(scope="module")
def net():
    return Network.random(4, [20, 12, 5], 8, 2)


def test_wire_format_is_pure_python_and_the_gateware_does_not_import_the_host():
    """The host reads the wire format without Amaranth; the gateware reads it without
    the host (the link room comes before the host room)."""
    import subprocess
    import sys

    code = ("import sys; import sst_hw.link.wire; "
            "assert not any(m.split('.')[0] == 'amaranth' for m in sys.modules), 'amaranth'; "
            "import sst_hw.link.top; "
            "assert not any(m.startswith('sst_hw.host') for m in sys.modules), 'host'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_frame_layout():
    f = encode_frame(CMD_INFER, b"\x01\x02\x03")
    assert f[:4] == bytes([SYNC, CMD_INFER, 3, 0])
    assert f[4:7] == b"\x01\x02\x03"
    assert int.from_bytes(f[7:], "big") == crc16(f[1:7])
    assert crc16(f[1:]) == 0
    with pytest.raises(ValueError, match="cmd must be an integer in 0..255, not 256"):
        encode_frame(256)
    with pytest.raises(ValueError, match="payload must be at most 65535 bytes, not 65536"):
        encode_frame(1, bytes(65536))


def test_frame_reader_resync_and_split():
    a, b = encode_frame(0x81, b"xyz"), encode_frame(0xFF, b"\x01\x02")
    bad = bytearray(encode_frame(0x82, b"abc"))
    bad[5] ^= 1
    stream = b"\x00\x12" + a + bytes(bad) + b
    r = FrameReader()
    frames = []
    for i in range(0, len(stream), 3):           # arbitrary chunking
        frames += r.feed(stream[i:i + 3])
    assert [(f.cmd, f.payload, f.crc_ok) for f in frames] == [
        (0x81, b"xyz", True), (0x82, bytes(bad[4:7]), False),
        (0xFF, b"\x01\x02", True)]
    assert r.skipped == 2 and r.pending == 0


def test_info_roundtrip(net):
    info = DeviceInfo.from_network(net, clk_hz=12_000_000, divisor=104, timeout_bits=4096)
    raw = info.to_bytes()
    assert len(raw) == 48 and raw[0] == 2            # version 2: 24 more bytes
    assert DeviceInfo.from_bytes(raw) == info
    assert raw[24] == 2 and raw[25] == 2             # a fixed model, ready
    v1 = info.replace(version=1, load=None)
    raw1 = v1.to_bytes()
    assert len(raw1) == INFO_STRUCT.size == 24 and raw1[1:] == raw[1:24] and raw1[0] == 1
    assert DeviceInfo.from_bytes(raw1) == v1 and DeviceInfo.from_bytes(raw1).load is None
    assert info.model_id == model_id(net) != 0
    assert info.request_len == 20 and info.reply_len == 5 * 4 + 1
    assert info.baud == pytest.approx(115384.6, rel=1e-4)
    bad = bytearray(raw)
    bad[0] = 9
    with pytest.raises(ProtocolError, match="protocol version 9"):
        DeviceInfo.from_bytes(bytes(bad))
    bad = bytearray(raw)
    bad[9] = 2
    with pytest.raises(ProtocolError, match="disagree with the widths"):
        DeviceInfo.from_bytes(bytes(bad))


def test_model_id_tracks_arithmetic(net, tmp_path):
    other = Network.random(5, [20, 12, 5], 8, 2)
    assert model_id(net) != model_id(other)
    same = modelfile.load(modelfile.save(net, tmp_path / "m.npz"))
    assert model_id(same) == model_id(net)


@pytest.mark.parametrize("width, signed_", [(8, False), (12, False), (5, True), (16, True),
                                            (32, True)])
def test_input_codec(width, signed_):
    info = DeviceInfo(7, width, signed_, 3, 20)
    lo, hi = info.input_range
    x = np.array([lo, hi, 0, 1, lo + 1, hi - 1, (lo + hi) // 2])
    payload = info.encode_input(x)
    assert len(payload) == 7 * ((width + 7) // 8)
    assert info.decode_input(payload).tolist() == x.tolist()
    with pytest.raises(ValueError, match=f"input value {hi + 1} at \\[2\\] is outside"):
        info.encode_input(np.array([0, 0, hi + 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="input must have 7 features, not 6"):
        info.encode_input(np.zeros(6, int))


def test_result_codec():
    info = DeviceInfo(4, 8, False, 3, 40)
    assert info.logit_bytes == 8
    payload = info.encode_result([-(1 << 39), (1 << 39) - 1, 0], 1)
    res = info.decode_result(payload)
    assert res.logits.tolist() == [-(1 << 39), (1 << 39) - 1, 0] and res.cls == 1
    big = DeviceInfo(4, 8, False, 300, 12)
    assert big.class_bytes == 2 and big.reply_len == 300 * 4 + 2


def test_device_model_errors(net):
    dm = DeviceModel(net)
    frames = FrameReader().feed(dm.receive(encode_frame(CMD_INFO, b"\x00")))
    assert frames[0].cmd == CMD_ERROR and frames[0].payload == bytes([ErrorCode.BAD_LENGTH, 1])
    assert dm.receive(encode_frame(CMD_INFER)[:3]) == b""
    assert dm.in_frame
    frames = FrameReader().feed(dm.idle_timeout())
    assert frames[0].payload == bytes([ErrorCode.TIMEOUT, CMD_INFER])
    assert dm.idle_timeout() == b""


def test_client_over_model_transport(net):
    t = ModelTransport(net)
    c = Client(t, timeout=1.0)
    info = c.check_model(net)
    assert info.n_inputs == 20
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 255, (4, 20), endpoint=True)
    logits, classes = net.forward(xs)
    for x, lg, cl in zip(xs, logits, classes):
        res = c.infer(x)
        assert res.logits.tolist() == lg.tolist() and res.cls == cl
    with pytest.raises(DeviceError, match="UNKNOWN_COMMAND") as e:
        c.request(0x55)
    assert e.value.code == ErrorCode.UNKNOWN_COMMAND and e.value.command == 0x55
    other = Network.random(5, [20, 12, 5], 8, 2)
    with pytest.raises(ModelMismatch, match="another model is loaded"):
        c.check_model(other)
    c.check_model(other, check_id=False)       # same shapes
    with pytest.raises(ModelMismatch, match="n_inputs=20, the model 10"):
        c.check_model(Network.random(5, [10, 5], 8, 2))


def test_client_timeout():
    class Silent:
        def write(self, data):
            pass

        def read(self, n, timeout):
            return b""

        def reset_input(self):
            pass

    with pytest.raises(ReplyTimeout, match="no complete reply to command 0x01 within 0.05 s"):
        Client(Silent(), timeout=0.05).info()


def test_async_client(net):
    import asyncio

    async def go():
        c = AsyncClient(AsyncTransport(ModelTransport(net)))
        await c.check_model(net)
        x = np.arange(20)
        res = await c.infer(x)
        lg, cl = net.forward(x)
        assert res.logits.tolist() == lg[0].tolist() and res.cls == cl[0]

    asyncio.run(go())


class TCPDevice:
    """The device model behind a TCP socket, for pyserial's ``socket://`` URLs."""

    def __init__(self, network):
        self.model = DeviceModel(network)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        conn.settimeout(0.2)
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    reply = self.model.idle_timeout()
                    if reply:
                        conn.sendall(reply)
                    continue
                if not data:
                    return
                conn.sendall(self.model.receive(data))


def test_serial_transport_and_cli(net, tmp_path, capsys):
    """pyserial (socket:// URL) -> SerialTransport -> `sst-hw infer`, against the model."""
    mpath = modelfile.save(net, tmp_path / "model.npz")
    xs = np.random.default_rng(3).integers(0, 255, (2, 20), endpoint=True)
    np.save(tmp_path / "x.npy", xs)
    dev = TCPDevice(net)
    rc = main(["infer", "--port", f"socket://127.0.0.1:{dev.port}", "--model", str(mpath),
               str(tmp_path / "x.npy"), "--verify", "--json"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    logits, classes = net.forward(xs)
    got = [json.loads(l) for l in out]
    assert [g["logits"] for g in got] == logits.tolist()
    assert [g["class"] for g in got] == classes.tolist()
    assert all(g["matches_golden"] for g in got)


def test_cli_infer_model_port(net, tmp_path, capsys):
    mpath = modelfile.save(net, tmp_path / "model.npz")
    x = np.arange(20)
    np.save(tmp_path / "x.npy", x)
    assert main(["infer", "--port", "model", "--model", str(mpath), str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    lg, cl = net.forward(x)
    assert f"logits: {' '.join(map(str, lg[0].tolist()))}" in out
    assert f"class:  {cl[0]}" in out
    np.save(tmp_path / "bad.npy", np.arange(21))
    assert main(["infer", "--port", "model", "--model", str(mpath),
                 str(tmp_path / "bad.npy")]) == 2
    assert "input has 21 features, the device takes 20" in capsys.readouterr().err
    np.save(tmp_path / "big.npy", np.full(20, 256))
    assert main(["infer", "--port", "model", "--model", str(mpath),
                 str(tmp_path / "big.npy")]) == 2
    assert "input values must be in 0..255" in capsys.readouterr().err
