"""The plots of a data-set card (``shards.card``): PNGs drawn by matplotlib's Agg canvas.

Deterministic bytes: fixed figure sizes and dpi, the bundled DejaVu fonts, no ``Software`` (or
any other) metadata chunk, no dates; the example grid is ``export.preview_sheet`` saved by PIL
(which writes no time either).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nirvis.atomic import atomic_write_bytes, save_image

#: Every plot the card may have, in the order the README shows them.
PLOTS = ("pose.png", "skin_tone.png", "identities.png", "attributes.png", "examples.png")
_DPI = 100
_VIEW_STYLE = {"vis": {"color": "tab:blue", "label": "VIS"}, "nir": {"color": "tab:red", "label": "NIR"}}
# sRGB colour of each ITA category's typical skin (for the bars only)
_ITA_COLOURS = {"very light": "#f1d3bd", "light": "#e0b794", "intermediate": "#c99a6e", "tan": "#a87446",
                "brown": "#74492c", "dark": "#3f2616", "not recorded": "#bbbbbb"}


def _figure(w: float, h: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())


def _hist_bars(ax: Any, hist: dict[str, list], **style: Any) -> None:
    e = np.asarray(hist["edges"], np.float64)
    if e.size < 2:
        return
    ax.stairs(hist["counts"], e, fill=True, alpha=0.45, **style)
    ax.stairs(hist["counts"], e, color=style.get("color"), lw=1.2)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts


def pose_plot(stats: dict[str, Any], path: Path) -> None:
    fig = _figure(10.5, 3.3)
    pairs = stats["dataset"]["pairs"]
    views = stats["pose"]["views"]
    for j, (key, name) in enumerate((("yaw_deg", "Yaw"), ("pitch_deg", "Pitch"), ("roll_deg", "Roll"))):
        ax = fig.add_subplot(1, 3, j + 1)
        peak = 1
        for v in views:
            h = stats["pose"][v][key]
            _hist_bars(ax, h["histogram"], color=_VIEW_STYLE[v]["color"],
                       label=f"{'VIS = NIR' if len(views) == 1 else _VIEW_STYLE[v]['label']}: "
                             f"mean {h.get('mean', 0):+.1f}, sd {h.get('std', 0):.1f}")
            peak = max([peak] + h["histogram"]["counts"])
        ax.set_ylim(0, peak * 1.3)  # room for the legend above the bars
        ax.set_xlabel(f"{name.lower()} (degrees, 5-degree bins)")
        ax.set_ylabel("pairs")
        ax.set_title(f"{name}", fontsize=10)
        ax.legend(fontsize=7, loc="upper center", frameon=False)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"Head pose of the {pairs} pairs (the rendered view's yaw / pitch / roll, as in <key>.json "
                 "pose)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _share_bars(ax: Any, counts: dict[str, int], total: int, title: str, unit: str, colours: Any = None,
                sort: bool = True) -> None:
    """Horizontal bars of the shares (%) of ``counts`` in ``total``, labelled with the counts;
    ``sort``: largest first (else in the given order, e.g. the ITA categories light to dark)."""
    names = sorted(counts, key=lambda k: (-counts[k], k)) if sort else list(counts)
    vals = [100.0 * counts[n] / total if total else 0.0 for n in names]
    y = np.arange(len(names))
    ax.barh(y, vals, color=colours or "tab:gray")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(vals + [1.0]) * 1.25)
    for k, (v, n) in enumerate(zip(vals, names)):
        ax.text(v, k, f" {counts[n]}", va="center", fontsize=7)
    ax.set_xlabel(f"share of {unit} (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)


def skin_plot(stats: dict[str, Any], path: Path) -> None:
    from nirvis.colour import ITA_CATEGORIES

    s = stats["skin_tone"]
    n = stats["dataset"]["identities"]
    fig = _figure(10.0, 3.4)
    ax = fig.add_subplot(1, 2, 1)
    h = s["ita_deg"]["histogram"]
    lo = min([-60.0] + h["edges"][:1])
    hi = max([75.0] + h["edges"][-1:])
    bounds = [hi] + [b for _, b in ITA_CATEGORIES[:-1]] + [lo]
    for (name, _), top, bottom in zip(ITA_CATEGORIES, bounds[:-1], bounds[1:]):
        ax.axvspan(bottom, top, color=_ITA_COLOURS[name], alpha=0.35, lw=0)
        ax.text((top + bottom) / 2, 0.98, name, rotation=90, fontsize=7, ha="center", va="top",
                transform=ax.get_xaxis_transform())
    _hist_bars(ax, h, color="k")
    ax.set_ylim(0, max([1] + h["counts"]) * 1.6)  # the category names above the bars
    ax.set_xlim(lo, hi)
    ax.invert_xaxis()  # light skin on the left, as the category bars
    ax.set_xlabel("ITA (degrees, 5-degree bins; higher = lighter)")
    ax.set_ylabel("identities")
    ax.set_title("Individual typology angle (ITA) of the base skin", fontsize=9)
    ax = fig.add_subplot(1, 2, 2)
    counts = s["categories"]["counts"]
    _share_bars(ax, counts, n, "ITA categories (Chardon et al. 1991)", f"{n} identities",
                [_ITA_COLOURS.get(k, "#bbbbbb") for k in counts], sort=False)
    fig.tight_layout()
    _save(fig, path)


def identities_plot(stats: dict[str, Any], path: Path) -> None:
    ids = stats["identities"]
    n = stats["dataset"]["identities"]
    fig = _figure(10.0, 3.0)
    ax = fig.add_subplot(1, 3, 1)
    _share_bars(ax, ids["sex"]["counts"], n, "Sex", f"{n} identities", "tab:purple")
    ax = fig.add_subplot(1, 3, 2)
    _share_bars(ax, ids["ancestry"]["counts"], n, "Dominant ancestry component", f"{n} identities", "tab:olive")
    ax = fig.add_subplot(1, 3, 3)
    _hist_bars(ax, ids["age_years"]["histogram"], color="tab:cyan")
    ax.set_xlabel("age (years, 10-year bins)")
    ax.set_ylabel("identities")
    ax.set_title("Age", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def attributes_plot(stats: dict[str, Any], path: Path) -> None:
    pairs, n = stats["dataset"]["pairs"], stats["dataset"]["identities"]
    ex = stats["expression"]
    panels: Sequence[tuple[dict[str, int], int, str, str]] = [
        (ex["vis"]["counts"], pairs, "Expression" + (" (VIS)" if "nir" in ex else ""), "pairs"),
        ({"glasses": stats["accessories"]["glasses"]["counts"].get("yes", 0),
          **{f"headwear: {k}": v for k, v in stats["accessories"]["headwear"]["counts"].items() if k != "none"}},
         pairs, "Accessories", "pairs"),
        (stats["lighting"]["environment"]["counts"], pairs, "VIS lighting environment", "pairs"),
        (stats["lighting"]["background"]["counts"], pairs, "VIS background", "pairs"),
        (stats["identities"]["hair_style"]["counts"], n, "Hair style", "identities"),
        (stats["identities"]["facial_hair"]["counts"], n, "Facial hair", "identities"),
    ]
    fig = _figure(10.5, 6.4)
    for k, (counts, total, title, unit) in enumerate(panels):
        ax = fig.add_subplot(2, 3, k + 1)
        _share_bars(ax, counts, total, title, f"{total} {unit}", "tab:green" if unit == "pairs" else "tab:brown")
    fig.tight_layout()
    _save(fig, path)


def write_plots(root: Path, folder: str, stats: dict[str, Any], examples: int = 8) -> list[str]:
    """Write the card's plots under ``root/folder``; returns the file names written (``PLOTS`` order)."""
    out = root / folder
    written = []
    pose_plot(stats, out / "pose.png")
    written.append("pose.png")
    if stats["skin_tone"]["ita_deg"]["histogram"]["counts"]:
        skin_plot(stats, out / "skin_tone.png")
        written.append("skin_tone.png")
    identities_plot(stats, out / "identities.png")
    attributes_plot(stats, out / "attributes.png")
    written += ["identities.png", "attributes.png"]
    if examples > 0:
        from nirvis.shards.export import preview_sheet

        sheet, _ = preview_sheet(root, count=examples, columns_pairs=4, one_per_identity=True)
        save_image(sheet, out / "examples.png")
        written.append("examples.png")
    return written
