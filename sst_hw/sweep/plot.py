"""The Pareto plot of a sweep (PNG, matplotlib).

Two panels against LUT4 (the synthesis count, harness included): the test
accuracy (when the sweep trained, or swept model files) and the inferences
per second (fmax / cycles). One marker per code, one colour per PE; the
Pareto front of each panel is the dashed line. Only points that synthesized
are drawn; without any, nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sst_hw.sweep.results import pareto_front

__all__ = ["pareto_plot"]

_MARKERS = "os^Dv<>pPX*h"


def pareto_plot(records: list, path, title: str = "sweep") -> Path | None:
    """Draw ``records`` into ``path``; the path, or None when no point has LUT4."""
    pts = [r for r in records if r.get("status") == "ok" and r.get("lut4") is not None]
    if not pts:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("inferences_per_s", "inferences/s")]
    if any(r.get("accuracy") is not None for r in pts):
        panels.insert(0, ("accuracy", "test accuracy (integer model)"))
    codes = list(dict.fromkeys(r["code"] for r in pts))
    pes = sorted({r["pe"] for r in pts})
    cmap = plt.get_cmap("viridis", max(2, len(pes)))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), squeeze=False)
    for ax, (y, label) in zip(axes[0], panels):
        for i, code in enumerate(codes):
            for j, pe in enumerate(pes):
                sel = [r for r in pts if r["code"] == code and r["pe"] == pe
                       and r.get(y) is not None]
                if not sel:
                    continue
                ax.scatter([r["lut4"] for r in sel], [r[y] for r in sel],
                           marker=_MARKERS[i % len(_MARKERS)], color=cmap(j),
                           edgecolors="black", linewidths=0.4, s=48,
                           label=f"{code} PE {pe}")
        front = pareto_front(pts, "lut4", y)
        if front:
            ax.plot([r["lut4"] for r in front], [r[y] for r in front], "--", color="grey",
                    drawstyle="steps-post",
                    linewidth=1, label="Pareto front", zorder=0)
        ax.set_xlabel("LUT4 (yosys, with the out-of-context harness)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    by_label = dict(zip(labels, handles))
    fig.legend(by_label.values(), by_label.keys(), loc="center right", fontsize=7,
               frameon=False)
    fig.suptitle(f"{title}: {len(pts)} synthesized points")
    fig.tight_layout(rect=(0, 0, 0.84, 0.95))
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path
