"""The embedded-CPU path: the generated C library, SST against the dense int8 baseline.

For each model (the bundled digits model ``models/digits.sst`` and a
Fashion-MNIST-sized random 784-1024-1024-10 (8,2) MLP from
:func:`~sst_hw.format.random_model.random_network`; any ``--model`` file
too), writes both C variants of ``sst-hw export-c`` (``--weights sst`` and
``--weights int8``) and measures, in one run:

* **speed on this machine's CPU**: the library compiled with ``cc -std=c99
  -O2`` together with a timing driver (``clock_gettime``, best of several
  timed runs of many inferences); the driver first checks every class
  against the golden model on the timed inputs. A second build adds
  ``-fno-tree-vectorize``: GCC's -O2 turns the int8 multiply-accumulate loop
  into SSE on x86, which a Cortex-M0+ or M4 cannot do, so the scalar figure
  is the closer proxy for a microcontroller core;
* **host code size**: ``size -A`` of the compiled object: ``.text``,
  ``.rodata`` (and ``.data``) and the ``.bss`` of the static buffers;
* **weight bytes**: codes + decode tables (SST) or the dense int8 matrix,
  and the requantization constants;
* **microcontroller flash**, where ``arm-none-eabi-gcc`` is on ``PATH``
  (Debian: ``apt-get install gcc-arm-none-eabi``; otherwise the benchmark
  says so and skips it): the object compiled for Cortex-M0+ (``-mcpu=cortex-m0plus
  -mthumb -Os``) and Cortex-M4 (``-mcpu=cortex-m4 -mthumb -Os``), flash =
  ``.text + .rodata + .data`` from ``arm-none-eabi-size -A``, RAM =
  ``.data + .bss``.

Flash is ``.text + .rodata + .data`` everywhere. Prints a table with the ratios SST / int8 (speed and flash) and writes
``build/bench/c.json`` (sources and binaries under ``build/bench/c/``). Run:
``.venv/bin/python benchmarks/bench_c.py`` (about a minute).
Absolute speeds drift with the machine's load; compare within one run.
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from sst_hw.emit.c_model import generate_c, write_c  # noqa: E402
from sst_hw.format import modelfile  # noqa: E402
from sst_hw.format.random_model import random_network  # noqa: E402

#: numpy dtype of each C input type.
DTYPES = {"uint8_t": np.uint8, "int8_t": np.int8, "uint16_t": np.uint16,
          "int16_t": np.int16, "uint32_t": np.uint32, "int32_t": np.int32}
#: Microcontroller targets: name -> arm-none-eabi-gcc flags.
ARM_TARGETS = {"cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-Os"],
               "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-Os"]}
HOST_FLAGS = ["-std=c99", "-O2"]
#: A second timed build without auto-vectorization: a proxy for cores without
#: SIMD (GCC 12's -O2 vectorizes the int8 multiply-accumulate loop with SSE on
#: x86, which no Cortex-M0+/M4 can; the SST gathers do not vectorize either way).
SCALAR_FLAGS = ["-std=c99", "-O2", "-fno-tree-vectorize"]


def bench_driver(model, count: int) -> str:
    """A ``main`` that reads ``count`` raw inputs from the file ``argv[1]``,
    prints the class of each, then times passes over them until each of
    ``argv[2]`` runs lasts at least ``argv[3]`` seconds, printing the best
    inferences per second."""
    up = model.name.upper()
    return f"""\
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "{model.header_name}"

#define COUNT {count}
static {model.input_type} x[COUNT][{up}_IN_FEATURES];
static {model.logit_type} logits[{up}_CLASSES];
static volatile int sink;

static double now(void)
{{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}}

int main(int argc, char **argv)
{{
    FILE *f;
    int i, run, runs;
    double min_s, best = 0.0;
    if (argc != 4) return 2;
    f = fopen(argv[1], "rb");
    if (!f || fread(x, sizeof x[0], COUNT, f) != COUNT) return 3;
    fclose(f);
    runs = atoi(argv[2]);
    min_s = atof(argv[3]);
    for (i = 0; i < COUNT; ++i) printf("%d%c", {model.name}_infer(x[i], logits),
                                       i + 1 < COUNT ? ' ' : '\\n');
    for (run = 0; run < runs; ++run) {{
        long n = 0;
        int acc = 0;
        double t0 = now(), t;
        do {{
            for (i = 0; i < COUNT; ++i) acc += {model.name}_infer(x[i], logits);
            n += COUNT;
            t = now() - t0;
        }} while (t < min_s);
        sink = acc;
        if (n / t > best) best = n / t;
    }}
    printf("%.1f\\n", best);
    return 0;
}}
"""


def sections(size_tool: str, obj: Path) -> dict:
    """Bytes per section group of ``obj`` from ``size -A``: text, rodata, data, bss."""
    out = subprocess.run([size_tool, "-A", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(".") or not parts[1].isdigit():
            continue
        name, n = parts[0], int(parts[1])
        for key in sizes:
            if name == f".{key}" or name.startswith(f".{key}."):
                sizes[key] += n
    sizes["flash"] = sizes["text"] + sizes["rodata"] + sizes["data"]
    sizes["ram"] = sizes["data"] + sizes["bss"]
    return sizes


def compile_obj(cc: str, flags, src: Path, obj: Path):
    subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)], check=True,
                   capture_output=True, text=True)


def models(args):
    out = []
    digits = modelfile.load(args.digits)
    sizes = "-".join(str(v) for v in [digits.layers[0].in_features]
                     + [layer.out_features for layer in digits.layers])
    desc = f"{args.digits.name} ({sizes}, {digits.layers[0].codebook.describe_short()})"
    out.append(("digits", desc, digits))
    if not args.no_fashion:
        net = random_network(0, [784, 1024, 1024, 10], 8, 2, calib=16)
        out.append(("fmnist_mlp",
                    "random 784-1024-1024-10, full/enum (8,2) (random_network seed 0)", net))
    for i, path in enumerate(args.model or []):
        out.append((f"model{i}", str(path), modelfile.load(path)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=Path, default=ROOT / "models" / "digits.sst")
    ap.add_argument("--model", type=Path, action="append",
                    help="another model file to measure (repeatable)")
    ap.add_argument("--no-fashion", action="store_true",
                    help="skip the 784-1024-1024-10 MLP")
    ap.add_argument("--inputs", type=int, default=32, help="timed inputs per model")
    ap.add_argument("--runs", type=int, default=5, help="timed runs (the best is kept)")
    ap.add_argument("--min-seconds", type=float, default=0.3, help="length of one timed run")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build/bench/c.json")
    args = ap.parse_args()

    build = args.output.parent / "c"
    build.mkdir(parents=True, exist_ok=True)
    arm_gcc = shutil.which("arm-none-eabi-gcc")
    arm_size = shutil.which("arm-none-eabi-size")
    cc_version = subprocess.run([args.cc, "--version"], capture_output=True,
                                text=True, check=True).stdout.splitlines()[0]
    results = {"host": {"machine": platform.machine(), "processor": platform.processor(),
                        "cc": cc_version, "flags": HOST_FLAGS,
                        "load_average": os.getloadavg()},
               "arm": None, "models": []}
    if arm_gcc and arm_size:
        ver = subprocess.run([arm_gcc, "--version"], capture_output=True,
                             text=True, check=True).stdout.splitlines()[0]
        results["arm"] = {"gcc": ver, "targets": ARM_TARGETS}
        print(f"arm: {ver}")
    else:
        print("arm: arm-none-eabi-gcc not on PATH (Debian: apt-get install gcc-arm-none-eabi); "
              "microcontroller sizes skipped")
    print(f"host: {cc_version}, {' '.join(HOST_FLAGS)}, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    rng = np.random.default_rng(0)
    for key, desc, net in models(args):
        lo, hi = net.input_range
        feats = net.layers[0].in_features if not hasattr(net, "input_shape") \
            else int(np.prod(net.input_shape))
        x = rng.integers(lo, hi, size=(args.inputs, feats), endpoint=True)
        if key == "digits":
            from sst_hw.train.datasets import load_digits
            x = load_digits().x_test[:args.inputs].astype(np.int64)
        _, classes = net.forward(x)
        entry = {"key": key, "model": desc, "variants": {}}
        print(f"\n{key}: {desc}")
        for weights in ("sst", "int8"):
            t0 = time.monotonic()
            m = generate_c(net, f"{key}_{weights}", weights)
            folder = build / key
            write_c(m, folder)
            src = folder / m.source_name
            obj = folder / f"{m.name}.o"
            compile_obj(args.cc, HOST_FLAGS, src, obj)
            host = sections("size", obj)
            drv = folder / f"{m.name}_bench.c"
            drv.write_text(bench_driver(m, len(x)))
            inp = folder / "inputs.bin"
            inp.write_bytes(x.astype(DTYPES[m.input_type]).tobytes())
            rates, exact = {}, True
            for label, flags in (("O2", HOST_FLAGS), ("scalar", SCALAR_FLAGS)):
                exe = folder / f"{m.name}_bench_{label}"
                subprocess.run([args.cc, *flags, "-o", str(exe), str(drv), str(src)],
                               check=True, capture_output=True, text=True)
                out = subprocess.run([str(exe), str(inp), str(args.runs), str(args.min_seconds)],
                                     capture_output=True, text=True,
                                     check=True).stdout.split("\n")
                got = np.array(out[0].split(), dtype=np.int64)
                exact &= bool(np.array_equal(got, classes))
                rates[label] = float(out[1])
            rate = rates["O2"]
            v = {"inferences_per_s": rate, "us_per_inference": 1e6 / rate,
                 "scalar_inferences_per_s": rates["scalar"],
                 "classes_match_golden": exact, "host_object": host,
                 "weight_bytes": m.summary["weight_bytes"],
                 "const_bytes": m.summary["const_bytes"],
                 "static_ram_bytes": m.summary["ram_bytes"], "arm": {}}
            if results["arm"]:
                for target, flags in ARM_TARGETS.items():
                    aobj = folder / f"{m.name}.{target}.o"
                    compile_obj(arm_gcc, ["-std=c99", *flags], src, aobj)
                    v["arm"][target] = sections(arm_size, aobj)
            entry["variants"][weights] = v
            print(f"  {weights:4s} {rate:12.0f} inf/s ({1e6 / rate:9.2f} us; "
                  f"{rates['scalar']:.0f} without the vectorizer), classes "
                  f"{'match' if exact else 'DIFFER from'} golden, weights {v['weight_bytes']} B, "
                  f"host .text {host['text']} .rodata {host['rodata']} ({time.monotonic() - t0:.1f} s)")
            if not exact:
                raise SystemExit(f"{m.name}: classes differ from the golden model")
        s, d = entry["variants"]["sst"], entry["variants"]["int8"]
        entry["ratios_sst_over_int8"] = {
            "speed": s["inferences_per_s"] / d["inferences_per_s"],
            "scalar_speed": s["scalar_inferences_per_s"] / d["scalar_inferences_per_s"],
            "weight_bytes": s["weight_bytes"] / d["weight_bytes"],
            "host_flash": s["host_object"]["flash"] / d["host_object"]["flash"],
            **{f"{t}_flash": s["arm"][t]["flash"] / d["arm"][t]["flash"] for t in s["arm"]}}
        results["models"].append(entry)

    # The table.
    targets = list(ARM_TARGETS) if results["arm"] else []
    head = ["model", "weights", "inf/s (host -O2)", "us/inf", "inf/s (-O2, no vectorizer)",
            "weight B", "host flash B"]
    head += [f"{t} flash B" for t in targets] + [f"{t} RAM B" for t in targets]
    rows = []
    for e in results["models"]:
        for w in ("sst", "int8"):
            v = e["variants"][w]
            h = v["host_object"]
            rows.append([e["key"], w, f"{v['inferences_per_s']:.0f}",
                         f"{v['us_per_inference']:.2f}",
                         f"{v['scalar_inferences_per_s']:.0f}", str(v["weight_bytes"]),
                         str(h["flash"])]
                        + [str(v["arm"][t]["flash"]) for t in targets]
                        + [str(v["arm"][t]["ram"]) for t in targets])
        r = e["ratios_sst_over_int8"]
        rows.append([e["key"], "SST/int8", f"x{r['speed']:.2f}", "", f"x{r['scalar_speed']:.2f}",
                     f"x{r['weight_bytes']:.3f}",
                     f"x{r['host_flash']:.3f}"]
                    + [f"x{r[f'{t}_flash']:.3f}" for t in targets] + ["" for _ in targets])
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
