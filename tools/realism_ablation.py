"""Realism ablation helpers (issue 12): shared-asset identity folders and the ablation table.

Two sub-commands, both outside the package and touching no renderer code:

``share IDS OUT --what maps|mesh``
    copies an identity folder written by ``nirvis identities --out IDS`` to OUT, giving every
    identity the reflectance and region maps (``maps``: every ``*.png`` of the asset) or the mesh
    (``mesh``: ``mesh.obj`` and the landmark bindings of ``asset.json``) of the first identity.
    ``render-dataset --config X.yaml`` with ``identity_source: OUT`` then renders that variant.

``table NAME=REPORT.json ...``
    prints the markdown ablation table of ``nirvis bench realism`` reports, one row per report.

Example::

    nirvis identities --count 24 --seed 0 --resolution 256 --out /tmp/ids
    python tools/realism_ablation.py share /tmp/ids /tmp/ids_maps --what maps
    python tools/realism_ablation.py table default=/tmp/a.json frontal=/tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

COLUMNS = ("VIS-VIS same / diff", "diff / real", "diff < 0.6", "det. VIS / NIR (\\|yaw\\| <= 30)",
           "TAR@1e-2 VIS-VIS / NIR-VIS")


def share_assets(ids: Path, out: Path, what: str) -> int:
    """Copy identity folder ``ids`` to ``out`` with every identity using identity 0's maps or mesh.

    Returns the number of identity assets rewritten (all but the first). Raises ValueError for an
    unknown ``what``, a folder without identity assets, or an existing ``out``.
    """
    if what not in ("maps", "mesh"):
        raise ValueError(f"--what must be 'maps' or 'mesh', got {what!r}")
    assets = sorted(p for p in Path(ids).iterdir() if (p / "asset.json").is_file())
    if not assets:
        raise ValueError(f"{ids}: no identity asset folders (DIR/*/asset.json); write one with `nirvis identities`")
    if Path(out).exists():
        raise ValueError(f"{out}: already exists")
    tmp = Path(str(out) + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(ids, tmp)
    first = assets[0]
    first_json = json.loads((first / "asset.json").read_text())
    for asset in assets[1:]:
        dst = tmp / asset.name
        if what == "maps":
            for png in first.glob("*.png"):
                shutil.copyfile(png, dst / png.name)
        else:
            shutil.copyfile(first / first_json["mesh"], dst / first_json["mesh"])
            data = json.loads((dst / "asset.json").read_text())
            data["landmarks"] = first_json["landmarks"]
            (dst / "asset.json").write_text(json.dumps(data, indent=1))
    tmp.rename(out)
    return len(assets) - 1


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def table_row(name: str, report: Mapping[str, Any]) -> str:
    """One markdown row of ``COLUMNS`` from a ``nirvis bench realism`` JSON report."""
    vv, nv, det = report["vis_vis"], report["nir_vis"], report["detection"]
    ratio = (report.get("real") or {}).get("synthetic_to_real_different_mean_ratio")
    cells = (f"{vv['same']['mean']:.3f} / {vv['different']['mean']:.3f}",
             "–" if ratio is None else f"{ratio:.2f}x",
             _pct(vv["different"]["share_under_threshold"]),
             f"{_pct(det['vis']['abs_yaw_le_30']['rate'])} / {_pct(det['nir']['abs_yaw_le_30']['rate'])}",
             f"{_pct(vv['tar_at_far']['0.01'])} / {_pct(nv['tar_at_far']['0.01'])}")
    return "| " + " | ".join((name, *cells)) + " |"


def format_table(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    head = "| variant | " + " | ".join(COLUMNS) + " |\n|" + "---|" * (len(COLUMNS) + 1)
    return "\n".join([head, *(table_row(n, r) for n, r in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sh = sub.add_parser("share", help="identity folder with identity 0's maps or mesh for all")
    sh.add_argument("ids")
    sh.add_argument("out")
    sh.add_argument("--what", required=True, choices=("maps", "mesh"))
    tb = sub.add_parser("table", help="markdown ablation table of realism reports")
    tb.add_argument("reports", nargs="+", help="NAME=REPORT.json")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "share":
            n = share_assets(Path(args.ids), Path(args.out), args.what)
            print(f"{args.out}: {n} identities now use the {args.what} of the first")
        else:
            rows = []
            for item in args.reports:
                name, sep, path = item.partition("=")
                if not sep:
                    raise ValueError(f"{item!r}: expected NAME=REPORT.json")
                rows.append((name, json.loads(Path(path).read_text())))
            print(format_table(rows))
    except (ValueError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
