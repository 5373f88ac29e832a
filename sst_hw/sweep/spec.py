"""The sweep spec: what to explore, which stages to run, which points qualify.

A spec is a TOML file (``docs/sweep.md`` has the full format) or the same
fields given on the command line; command-line values replace the file's.
Everything is checked here, before a cluster starts or a model trains: an
unknown table, key or axis, a value out of its range (the bounds of
:mod:`sst_hw.format.limits` and the codebook's), an unknown device, stage or
data set, a missing model file. Each refusal is one :class:`SpecError`
naming where the value came from (``spec.toml: axes.pe`` or ``--pe``).

Values are checked one by one; *combinations* (K > N in a product of ``n``
and ``k``, PE x SIMD above :data:`~sst_hw.format.limits.MAX_LANES`) are
points :mod:`.points` marks invalid, and the sweep goes on.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from sst_hw.format import limits
from sst_hw.format.codebook import ASSIGNMENTS, N_RANGE, VARIANTS, Codebook

__all__ = ["SpecError", "AXES", "STAGES", "TABLES", "TrainSettings", "SynthSettings",
           "Constraints", "SweepSpec", "read_spec_file", "build_spec", "parse_code",
           "code_label", "DEFAULT_CODES", "DEFAULT_TIMEOUT"]

#: Axes a spec may cross, in the order points list them.
AXES = ("code", "n", "k", "variant", "assignment", "pe", "simd", "device", "memory",
        "dataset", "hidden", "model")
#: Stages a point may run (``plan`` always runs).
STAGES = ("plan", "train", "synth")
#: Seconds a point may take, all its stages together, unless the spec says otherwise.
DEFAULT_TIMEOUT = 3600.0
#: The codes ``autotune`` tries when it is given none.
DEFAULT_CODES = ("(4,1)", "(8,1)", "(8,2)", "(16,2)", "(16,3)", "partitioned(8,2)")
MEMORIES = ("bram", "spram")

#: Tables of the TOML file and their keys.
TABLES = {
    "sweep": ("name", "stages", "timeout"),
    "axes": AXES,
    "train": ("epochs", "batch_size", "seed", "act_width", "shift_only"),
    "synth": ("freq", "seed"),
    "constraints": ("min_accuracy", "max_lut4", "min_inferences_per_s"),
}

_CODE = re.compile(r"^(full|partitioned|p)?\s*\(?\s*(\d+)\s*[,:]\s*(\d+)\s*\)?"
                   r"(?:\s*/\s*(enum|direct))?$")
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")


class SpecError(ValueError):
    """A spec that cannot run: the message names the value and where it came from."""


# -- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    """How ``train`` points train (``sst-hw train``'s options). ``epochs`` is
    (float, prune, sst) or None for the data set's default schedule;
    ``batch_size`` None likewise."""

    epochs: tuple | None = None
    batch_size: int | None = None
    seed: int = 0
    act_width: int = 8
    shift_only: bool = False

    def as_dict(self) -> dict:
        return {"epochs": list(self.epochs) if self.epochs else None,
                "batch_size": self.batch_size, "seed": self.seed,
                "act_width": self.act_width, "shift_only": self.shift_only}


@dataclass(frozen=True)
class SynthSettings:
    """The place and route of ``synth`` points: nextpnr's clock target in MHz
    (None: 48 on iCE40, 100 on ECP5, as ``sst-hw synth``) and placer seed."""

    freq: float | None = None
    seed: int = 1

    def freq_for(self, family: str) -> float:
        if self.freq is not None:
            return float(self.freq)
        return 48.0 if family == "ice40" else 100.0


@dataclass(frozen=True)
class Constraints:
    """What a point must reach to qualify (None: no bound). ``min_accuracy``
    is a fraction of the test set (the integer golden model's)."""

    min_accuracy: float | None = None
    max_lut4: int | None = None
    min_inferences_per_s: float | None = None

    def as_dict(self) -> dict:
        return {"min_accuracy": self.min_accuracy, "max_lut4": self.max_lut4,
                "min_inferences_per_s": self.min_inferences_per_s}


@dataclass(frozen=True)
class SweepSpec:
    """A checked spec. ``axes`` maps each axis of :data:`AXES` that applies to
    its list of values (codes as dicts ``n, k, variant, assignment``, hidden
    layers as tuples, model files as resolved paths); an axis left out takes
    its default when :mod:`.points` crosses them."""

    name: str
    axes: dict
    stages: tuple
    train: TrainSettings = field(default_factory=TrainSettings)
    synth: SynthSettings = field(default_factory=SynthSettings)
    constraints: Constraints = field(default_factory=Constraints)
    timeout: float = DEFAULT_TIMEOUT

    def runs(self, stage: str) -> bool:
        return stage in self.stages

    def as_dict(self) -> dict:
        axes = {k: [list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v
                    for v in vals] for k, vals in self.axes.items()}
        return {"name": self.name, "axes": axes, "stages": list(self.stages),
                "train": self.train.as_dict(),
                "synth": {"freq": self.synth.freq, "seed": self.synth.seed},
                "constraints": self.constraints.as_dict(), "timeout": self.timeout}


# -- reading ------------------------------------------------------------------------------------


def read_spec_file(path) -> dict:
    """The TOML file ``path`` as a dict, its tables and keys checked against
    :data:`TABLES` (values are checked by :func:`build_spec`)."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no such spec file: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a text file ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    check_tables(raw, str(path))
    return raw


def check_tables(raw: dict, where: str) -> None:
    """Refuse an unknown table, a key of an unknown name, a table that is not one."""
    for table, body in raw.items():
        if table not in TABLES:
            raise SpecError(f"{where}: unknown table [{table}]; known: "
                            f"{', '.join(f'[{t}]' for t in TABLES)}")
        if not isinstance(body, dict):
            raise SpecError(f"{where}: {table} must be a table ([{table}]), not {body!r}")
        for key in body:
            if key not in TABLES[table]:
                what = "axis" if table == "axes" else "key"
                raise SpecError(f"{where}: unknown {what} {table}.{key}; known: "
                                f"{', '.join(TABLES[table])}")


# -- values --------------------------------------------------------------------------------------


def _tokens(value, label: str, *, split=",") -> list:
    """A list of raw values: a TOML array, one scalar, or a command-line
    string of ``split``-separated items."""
    if isinstance(value, str):
        items = [v.strip() for v in re.split(split, value) if v.strip()]
        if not items:
            raise SpecError(f"{label}: no values in {value!r}")
        return items
    if isinstance(value, list):
        if not value:
            raise SpecError(f"{label}: the list is empty; give at least one value")
        return value
    return [value]


def _dedupe(values: list) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _int(value, label: str, lo: int, hi: int | None) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise SpecError(f"{label}: {value!r} is not an integer") from None
    try:
        return limits.check_int(label, value, lo, hi)
    except (TypeError, ValueError) as e:
        raise SpecError(str(e)) from None


def _int_axis(value, label: str, bounds) -> list:
    out = []
    for item in _tokens(value, label):
        m = _RANGE.match(item) if isinstance(item, str) else None
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                raise SpecError(f"{label}: empty range {item!r}")
            _int(a, label, *bounds), _int(b, label, *bounds)
            out += list(range(a, b + 1))
        else:
            out.append(_int(item, label, *bounds))
    return _dedupe(out)


def _choice_axis(value, label: str, choices) -> list:
    out = []
    for item in _tokens(value, label):
        item = item.strip().lower() if isinstance(item, str) else item
        if item not in choices:
            raise SpecError(f"{label}: {item!r} is not one of {', '.join(choices)}")
        out.append(item)
    return _dedupe(out)


def parse_code(token, label: str = "code") -> dict:
    """One code, ``[full|partitioned|p](N,K)[/enum|/direct]`` (``N:K`` for
    ``(N,K)``) or a table ``{n, k, variant, assignment}``, as a checked dict."""
    if isinstance(token, dict):
        unknown = set(token) - {"n", "k", "variant", "assignment"}
        if unknown:
            raise SpecError(f"{label}: unknown key {sorted(unknown)[0]!r} in {token!r}; "
                            f"a code has n, k, variant, assignment")
        if "n" not in token or "k" not in token:
            raise SpecError(f"{label}: a code needs n and k, not {token!r}")
        n, k = token["n"], token["k"]
        variant, assignment = token.get("variant", "full"), token.get("assignment", "enum")
    elif isinstance(token, str):
        m = _CODE.match(token.strip().lower())
        if not m:
            raise SpecError(f"{label}: {token!r} is not a code; write (N,K), N:K, "
                            f"partitioned(N,K) or (N,K)/direct, e.g. (8,2)")
        variant = {"p": "partitioned", None: "full"}.get(m.group(1), m.group(1))
        n, k, assignment = int(m.group(2)), int(m.group(3)), m.group(4) or "enum"
    else:
        raise SpecError(f"{label}: {token!r} is not a code; write (N,K), e.g. \"(8,2)\"")
    try:
        cb = Codebook(n, k, variant, assignment)
    except (TypeError, ValueError) as e:
        raise SpecError(f"{label}: {token!r}: {e}") from None
    return {"n": cb.n, "k": cb.k, "variant": cb.variant, "assignment": cb.assignment}


def code_label(code: dict) -> str:
    """``(8,2)``, ``partitioned(8,2)``, ``(8,2)/direct``: the form :func:`parse_code` reads."""
    head = "" if code["variant"] == "full" else code["variant"]
    tail = "" if code["assignment"] == "enum" else f"/{code['assignment']}"
    return f"{head}({code['n']},{code['k']}){tail}"


def _code_axis(value, label: str) -> list:
    if isinstance(value, str):
        # "(8,2) partitioned(8,2)" or "8:2,16:2": commas split outside parentheses only.
        value = re.findall(r"[^,\s;()]*\([^)]*\)[^,\s;]*|[^,\s;]+", value)
        if not value:
            raise SpecError(f"{label}: no codes given")
    return _dedupe([parse_code(t, label) for t in _tokens(value, label)])


def _hidden_axis(value, label: str) -> list:
    out = []
    items = _tokens(value, label)
    for item in items:
        if isinstance(item, list):
            sizes = item
        elif isinstance(item, int) and not isinstance(item, bool):
            sizes = [item]
        elif isinstance(item, str):
            sizes = [s for s in re.split(r"[-x]", item.strip()) if s]
        else:
            raise SpecError(f"{label}: {item!r} is not a list of hidden layer sizes "
                            f"(e.g. 128 or \"64-32\")")
        if not sizes:
            raise SpecError(f"{label}: {item!r} has no sizes")
        out.append(tuple(_int(s, label, 1, limits.MAX_ROW_LEN[1]) for s in sizes))
    return _dedupe(out)


def _dataset_axis(value, label: str) -> list:
    from sst_hw.train.datasets import DATASETS

    out = []
    for item in _tokens(value, label):
        if not isinstance(item, str):
            raise SpecError(f"{label}: {item!r} is not a data set name or folder")
        if item not in DATASETS and not Path(item).is_dir():
            raise SpecError(f"{label}: unknown data set {item!r}: not one of "
                            f"{', '.join(DATASETS)} and no such folder")
        out.append(item)
    return _dedupe(out)


def _model_axis(value, label: str) -> list:
    out = []
    for item in _tokens(value, label):
        path = Path(str(item))
        if not path.is_file():
            raise SpecError(f"{label}: no such model file: {path}")
        out.append(path.resolve())
    return _dedupe(out)


def _axis(name: str, value, label: str) -> list:
    from sst_hw.synth.devices import DEVICES

    if name == "code":
        return _code_axis(value, label)
    if name == "n":
        return _int_axis(value, label, N_RANGE)
    if name == "k":
        return _int_axis(value, label, (1, N_RANGE[1]))
    if name == "variant":
        return _choice_axis(value, label, VARIANTS)
    if name == "assignment":
        return _choice_axis(value, label, ASSIGNMENTS)
    if name == "pe":
        return _int_axis(value, label, limits.PE)
    if name == "simd":
        return _int_axis(value, label, limits.SIMD)
    if name == "device":
        return _choice_axis(value, label, tuple(DEVICES))
    if name == "memory":
        return _choice_axis(value, label, MEMORIES)
    if name == "dataset":
        return _dataset_axis(value, label)
    if name == "hidden":
        return _hidden_axis(value, label)
    if name == "model":
        return _model_axis(value, label)
    raise SpecError(f"{label}: unknown axis {name!r}; known: {', '.join(AXES)}")


def _number(value, label: str, lo: float, hi: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SpecError(f"{label}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not lo <= value <= hi:
        raise SpecError(f"{label} must be a number in {lo:g}..{hi:g}, not {value!r}")
    return float(value)


def _bool(value, label: str) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise SpecError(f"{label} must be true or false, not {value!r}")
    return value


def _accuracy(value, label: str) -> float:
    """A fraction 0..1, or a percentage above 1 up to 100."""
    x = _number(value, label, 0.0, 100.0)
    return x / 100.0 if x > 1.0 else x


# -- the whole spec --------------------------------------------------------------------------------


def _labelled(parts):
    """``(name, value, label)`` of every value of ``parts`` (a list of
    ``(raw dict, label function)``), later parts replacing earlier ones."""
    merged: dict = {}
    for raw, label in parts:
        for table, body in raw.items():
            for key, value in body.items():
                merged[(table, key)] = (value, label(table, key))
    return merged


def build_spec(file_raw: dict | None = None, cli_raw: dict | None = None, *,
               path=None, name: str | None = None) -> SweepSpec:
    """Check and merge a spec file's dict (from :func:`read_spec_file`) and the
    command line's (same tables; string values as typed) into a
    :class:`SweepSpec`. ``path`` names the file in messages."""
    where = str(path) if path is not None else "spec"
    parts = []
    if file_raw:
        check_tables(file_raw, where)
        parts.append((file_raw, lambda t, k: f"{where}: {t}.{k}"))
    if cli_raw:
        check_tables(cli_raw, "command line")
        parts.append((cli_raw, lambda t, k: f"--{k.replace('_', '-')}"))
    values = _labelled(parts)

    def get(table, key, default=None):
        return values.get((table, key), (default, None))

    axes = {}
    for (table, key), (value, label) in values.items():
        if table == "axes":
            axes[key] = _axis(key, value, label)
    if "code" in axes and any(a in axes for a in ("n", "k", "variant", "assignment")):
        raise SpecError("give the codes either as the code axis or as n, k, variant and "
                        "assignment, not both")
    if "model" in axes:
        clash = [a for a in ("code", "n", "k", "variant", "assignment", "dataset", "hidden")
                 if a in axes]
        if clash:
            raise SpecError(f"a model file brings its own codebook and layers: the model axis "
                            f"excludes the {clash[0]} axis")

    stages_value, stages_label = get("sweep", "stages", ["plan"])
    stages = _choice_axis(stages_value, stages_label or "stages", STAGES)
    stages = tuple(s for s in STAGES if s in stages or s == "plan")
    if "train" in stages and "model" in axes:
        raise SpecError("the train stage trains on a data set; it cannot run on model files "
                        "(drop train, or give a dataset axis instead of model)")

    timeout_value, timeout_label = get("sweep", "timeout", DEFAULT_TIMEOUT)
    timeout = _number(timeout_value, timeout_label or "timeout", 1.0, 7 * 86400.0)
    name_value, name_label = get("sweep", "name", Path(path).stem if path else "sweep")
    if name is not None:
        name_value, name_label = name, "--name"
    if not isinstance(name_value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name_value):
        raise SpecError(f"{name_label or 'name'} must be letters, digits, '_', '-' or '.', "
                        f"not {name_value!r}")

    train = _train_settings(values)
    synth = _synth_settings(values)
    constraints = _constraints(values)
    if constraints.min_accuracy is not None and "train" not in stages and "model" not in axes:
        raise SpecError("min_accuracy needs accuracies: add the train stage (or sweep model "
                        "files, whose recorded accuracy is used)")
    for key in ("max_lut4", "min_inferences_per_s"):
        if getattr(constraints, key) is not None and "synth" not in stages:
            raise SpecError(f"{key} needs synthesis results: add the synth stage")
    return SweepSpec(name_value, axes, stages, train, synth, constraints, timeout)


def _train_settings(values) -> TrainSettings:
    from sst_hw.train.mlp import Schedule

    kw = {}
    value, label = values.get(("train", "epochs"), (None, None))
    if value is not None:
        items = _tokens(value, label)
        epochs = [_int(e, label, 0, 100000) for e in items]
        if len(epochs) == 1:
            epochs *= 3
        if len(epochs) != 3:
            raise SpecError(f"{label} takes one number or three (float, prune, sst), "
                            f"not {value!r}")
        try:
            Schedule(*epochs)
        except ValueError as e:
            raise SpecError(f"{label}: {e}") from None
        kw["epochs"] = tuple(epochs)
    for key, lo, hi in (("batch_size", 1, 1 << 16), ("seed", 0, 2 ** 32 - 1),
                        ("act_width", 2, 16)):
        value, label = values.get(("train", key), (None, None))
        if value is not None:
            kw[key] = _int(value, label, lo, hi)
    value, label = values.get(("train", "shift_only"), (None, None))
    if value is not None:
        kw["shift_only"] = _bool(value, label)
    return TrainSettings(**kw)


def _synth_settings(values) -> SynthSettings:
    kw = {}
    value, label = values.get(("synth", "freq"), (None, None))
    if value is not None:
        kw["freq"] = _number(value, label, 1.0, 1000.0)
    value, label = values.get(("synth", "seed"), (None, None))
    if value is not None:
        kw["seed"] = _int(value, label, 0, 2 ** 31 - 1)
    return SynthSettings(**kw)


def _constraints(values) -> Constraints:
    kw = {}
    value, label = values.get(("constraints", "min_accuracy"), (None, None))
    if value is not None:
        kw["min_accuracy"] = _accuracy(value, label)
    value, label = values.get(("constraints", "max_lut4"), (None, None))
    if value is not None:
        kw["max_lut4"] = _int(value, label, 1, None)
    value, label = values.get(("constraints", "min_inferences_per_s"), (None, None))
    if value is not None:
        kw["min_inferences_per_s"] = _number(value, label, 0.0, 1e15)
    return Constraints(**kw)
