"""The reference convolutional networks on Fashion-MNIST, defined once.

The shipped models (``models/``), the README's training commands,
``benchmarks/bench_accuracy.py --cnn`` and the tests that pin the shipped
models to their commands all read these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReferenceCNN", "REFERENCE_CNNS"]


@dataclass(frozen=True)
class ReferenceCNN:
    name: str
    title: str
    arch: str
    epochs: tuple
    batch_size: int
    flip: bool
    model: str

    def argv(self, out: str | None = None) -> list[str]:
        """``sst-hw train`` arguments that make this model."""
        args = ["train", "--dataset", "fashion-mnist", "--arch", self.arch,
                "--epochs", ",".join(map(str, self.epochs)),
                "--batch-size", str(self.batch_size), "--seed", "0"]
        if self.flip:
            args.append("--flip")
        return args + ["-o", out or self.model]

    def command(self) -> str:
        return "sst-hw " + " ".join(self.argv())


REFERENCE_CNNS = {
    "up5k": ReferenceCNN(
        "up5k", "UP5K CNN (three conv blocks)",
        "c32k3p1,mp2,c32k3p1,mp2,c64k3p1,mp2,fc64,fc10", (3, 3, 6), 128, False,
        "models/fashion_up5k_cnn.sst"),
    "vgg9": ReferenceCNN(
        "vgg9", "VGG-9 (16-16-32-32-64-64, dense 512-256-10)",
        "c16k3p1,c16k3p1,mp2,c32k3p1,c32k3p1,mp2,c64k3p1,c64k3p1,mp2,fc512,fc256,fc10",
        (5, 4, 5), 128, True, "models/fashion_vgg9.sst"),
}
