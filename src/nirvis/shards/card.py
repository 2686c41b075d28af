"""``nirvis stats DIR``: the data-set card of a rendered data set (``README.md``, ``stats.json``, plots).

Every sample's ``json`` member is read (the images are not decoded, except the few pairs of the
example grid) and summarised:

* the data set (``manifest.json``): identities, pairs, shards, bytes, encoding, versions, fingerprint;
* per pair: VIS and NIR head pose (yaw / pitch / roll histograms; one set when every pair's views
  agree, as with ``pairing: shared``), camera distance and focal length, expression (the archetype
  of ``faces.head_model.EXPRESSION_ARCHETYPES`` whose units the recorded weights use; ``{}`` is
  neutral), glasses, headwear, NIR LED, VIS environment and background, sensor parameters;
* per identity (the ``identity`` record of its first pair): sex, age, dominant ancestry component,
  hair style, facial hair, make-up and the skin tone as ITA: the recorded skin parameters
  (melanin, eumelanin share, blood, oxygen saturation, epidermis thickness) through the skin model
  (``reflectance.sensors.skin_albedo_vis``, linear sRGB under D65) to CIE L*a*b*
  (``colour.linear_srgb_to_lab``), ``colour.ita_degrees`` and the Chardon categories. That is the
  identity's base skin colour, before freckles, redness, make-up, lighting and the camera; an
  identity without a recorded skin is counted as ``not recorded`` (no colour is guessed from pixels).

Files, each written atomically: ``DIR/card/*.png`` (``card_plots``), ``DIR/stats.json`` (sorted
keys; floats rounded to 4 decimals) and ``DIR/README.md`` last. No time, path or host goes into
them: the same data set gives the same bytes. ``verify`` looks only at the manifest, the shards
and the index files, so the card does not disturb it.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from nirvis.atomic import atomic_write_bytes, atomic_write_json
from nirvis.crop import CROP_SIZE
from nirvis.errors import NirvisError

README, STATS, PLOT_DIR = "README.md", "stats.json", "card"
CARD_FORMAT, CARD_VERSION = "nirvis-card", 1
#: The first line of a README.md this module wrote (another README.md is never replaced).
#: The second line of a README.md this module wrote, a comment in its YAML front matter (which must
#: open the file for the Hugging Face Hub); a README.md without it is never replaced.
README_MARK = f"# {CARD_FORMAT} v{CARD_VERSION}: written by `nirvis stats DIR`; rerun it to refresh"
ANGLES = ("yaw_deg", "pitch_deg", "roll_deg")
NOT_RECORDED = "not recorded"
#: The identity record's skin parameters (``appearance``) that give its base skin colour.
SKIN_FIELDS = ("melanin", "eumelanin_share", "blood", "oxygen_saturation", "epidermis_thickness_um")


class CardError(NirvisError, ValueError):
    """A data-set card that cannot be made (not a complete data set, a foreign README.md)."""


# ----------------------------------------------------------------------------------- helpers


def _r(x: float) -> float:
    return round(float(x), 4)


def histogram(values: Iterable[float], step: float) -> dict[str, list]:
    """``{"edges", "counts"}``: bins of width ``step`` on multiples of it, covering every value
    (NaN, a value not recorded, left out)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if not v.size:
        return {"edges": [], "counts": []}
    lo, hi = np.floor(v.min() / step) * step, np.ceil(v.max() / step) * step
    edges = np.arange(lo, max(hi, lo + step) + step / 2, step)
    counts, _ = np.histogram(v, edges)
    return {"edges": [_r(e) for e in edges], "counts": [int(c) for c in counts]}


def _f(x: Any) -> float:
    """A recorded number as float (NaN when missing or not a number)."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else float("nan")


def summary(values: Iterable[float]) -> dict[str, float]:
    """min / max / mean / median / sd of the values that are not NaN ({} when none is)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if not v.size:
        return {}
    return {"min": _r(v.min()), "max": _r(v.max()), "mean": _r(v.mean()), "median": _r(np.median(v)),
            "std": _r(v.std())}


def shares(counter: Counter, total: int) -> dict[str, Any]:
    """``{"counts", "shares"}`` of a counter (keys as strings, sorted)."""
    counts = {str(k): int(v) for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))}
    return {"counts": counts, "shares": {k: _r(v / total) if total else 0.0 for k, v in counts.items()}}


def _get(d: Any, *path: Any, default: Any = None) -> Any:
    for p in path:
        if isinstance(d, dict) and p in d:
            d = d[p]
        elif isinstance(d, list) and isinstance(p, int) and -len(d) <= p < len(d):
            d = d[p]
        else:
            return default
    return d


def expression_kind(weights: Any) -> str:
    """The ``EXPRESSION_ARCHETYPES`` name whose units ``weights`` (face unit -> weight) uses;
    ``neutral`` for no weights, ``other`` when none fits."""
    from nirvis.faces.head_model import EXPRESSION_ARCHETYPES

    if not isinstance(weights, dict) or not any(float(v or 0) > 0 for v in weights.values()):
        return "neutral"
    bases = {k[:-4] if k.endswith("Left") else k[:-5] if k.endswith("Right") else k for k in weights}
    fits = [(len(units), kind) for kind, (_, units) in EXPRESSION_ARCHETYPES.items() if bases <= set(units)]
    return min(fits)[1] if fits else "other"


def skin_ita(skin: Sequence[float], chunk: int = 1 << 15) -> list[float]:
    """ITA (degrees) of each identity's base skin; ``skin``: ``SKIN_FIELDS`` per identity, flat
    (see the module docstring). Computed in chunks of ``chunk`` identities."""
    import torch

    from nirvis.colour import ita_degrees, linear_srgb_to_lab
    from nirvis.reflectance.sensors import skin_albedo_vis
    from nirvis.reflectance.skin import SkinParams

    a = np.asarray(skin, np.float64).reshape(-1, len(SKIN_FIELDS))
    out: list[float] = []
    for s in range(0, len(a), chunk):
        cols = torch.from_numpy(np.ascontiguousarray(a[s:s + chunk].T))
        rgb = skin_albedo_vis(SkinParams(**dict(zip(SKIN_FIELDS, cols)))).numpy()
        out += [float(x) for x in ita_degrees(linear_srgb_to_lab(rgb))]
    return out


def _tally_identity(rec: Any, c: dict[str, Counter], ages: Any, skin: Any) -> None:
    """Count one identity's record (the ``identity`` block of its first pair) into ``c``."""
    ident, app = _get(rec, "identity", default={}), _get(rec, "appearance", default={})
    c["sex"][_get(rec, "sex", default=NOT_RECORDED)] += 1
    race = _get(ident, "race")
    names = ("african", "asian", "caucasian")
    c["ancestry"][names[int(np.argmax(race))] if isinstance(race, list) and len(race) == 3 else NOT_RECORDED] += 1
    if _get(ident, "age_years") is not None:
        ages.append(float(ident["age_years"]))
    c["hair_style"][_get(app, "hair", "style", default=NOT_RECORDED)] += 1
    c["facial_hair"][_get(app, "facial_hair", "style", default=NOT_RECORDED)] += 1
    c["makeup"][{True: "yes", False: "no"}.get(_get(app, "detail", "makeup"), NOT_RECORDED)] += 1
    values = [_get(app, f) for f in SKIN_FIELDS]
    if all(isinstance(v, (int, float)) for v in values):
        skin.extend(float(v) for v in values)
    else:
        c["skin_tone"][NOT_RECORDED] += 1


# ------------------------------------------------------------------------------------ stats


def _require_dataset(root: Path) -> dict[str, Any]:
    from nirvis.shards.reader import read_manifest
    from nirvis.shards.verify import require_verified

    if not root.is_dir():
        raise CardError(f"{root}: no such directory (expected a render-dataset output)")
    if not (root / "manifest.json").is_file():
        raise CardError(f"{root}: not a complete data set: no manifest.json (render incomplete? rerun "
                        "render-dataset to finish it)")
    require_verified(root, CardError, "not a complete, intact data set", indexes=False)
    return read_manifest(root)


def collect_stats(directory: Union[str, Path]) -> dict[str, Any]:
    """The ``stats.json`` document of a complete data set (verified first: sizes, sha256, keys).

    Raises:
        CardError: ``directory`` is not a complete, intact render-dataset output (names it).
    """
    from nirvis.shards.format import SHARD_DIR, iter_tar_samples

    root = Path(directory)
    manifest = _require_dataset(root)
    # memory: a few floats per pair and per identity (arrays), counters; never a sample's JSON
    pose = {v: {k: array("d") for k in ANGLES} for v in ("vis", "nir")}
    camera = {k: array("d") for k in ("distance_mm", "focal_mm", "vis_exposure", "vis_blur_sigma_px",
                                      "vis_jpeg_quality", "nir_gain", "nir_blur_sigma_px", "nir_jpeg_quality",
                                      "nir_led_intensity")}
    c: dict[str, Counter] = {k: Counter() for k in ("expression_vis", "expression_nir", "headwear", "led_nm",
                                                    "environment", "background", "pairing", "sex", "ancestry",
                                                    "hair_style", "facial_hair", "makeup", "skin_tone")}
    glasses, views_differ, pairs, n_id, last_label = 0, False, 0, 0, None
    ages, skin = array("d"), array("d")  # skin: SKIN_FIELDS per identity with recorded skin
    for entry in manifest["shards"]:
        for _key, parts in iter_tar_samples(root / SHARD_DIR / Path(entry["name"]).name):
            m = json.loads(parts["json"].decode("utf-8"))
            p = m.get("params", {})
            pairs += 1
            for view in ("vis", "nir"):
                for k in ANGLES:
                    pose[view][k].append(_f(_get(m, "pose", view, k)))
                c[f"expression_{view}"][expression_kind(_get(m, "expression", view))] += 1
            views_differ = views_differ or _get(m, "pose", "vis") != _get(m, "pose", "nir") \
                or _get(m, "expression", "vis") != _get(m, "expression", "nir")
            for k in ("distance_mm", "focal_mm"):
                camera[k].append(_f(_get(m, "pose", "vis", k)))
            for view, names in (("vis", ("exposure", "blur_sigma_px", "jpeg_quality")),
                                ("nir", ("gain", "blur_sigma_px", "jpeg_quality"))):
                for n in names:
                    camera[f"{view}_{n}"].append(_f(_get(p, f"{view}_sensor", n, 0)))
            camera["nir_led_intensity"].append(_f(_get(m, "lighting", "nir", "led_intensity")))
            glasses += bool(_get(m, "accessories", "glasses", "enabled", default=False))
            c["headwear"][_get(m, "accessories", "headwear", "kind", default="none")] += 1
            c["led_nm"][_get(m, "led_nm", default=NOT_RECORDED)] += 1
            env = _get(p, "environment", "name")
            c["environment"][env if env is not None else "synthetic lights"] += 1
            c["background"][_get(p, "background", "vis_kind", default=NOT_RECORDED)] += 1
            c["pairing"][m.get("pairing", NOT_RECORDED)] += 1
            if m.get("label") != last_label:  # verified: labels in order, an identity's pairs consecutive
                last_label, n_id = m.get("label"), n_id + 1
                _tally_identity(m.get("identity"), c, ages, skin)
    ita = skin_ita(skin)
    from nirvis.colour import ITA_CATEGORIES, ita_category

    for x in ita:
        c["skin_tone"][ita_category(x)] += 1
    categories = {name: c["skin_tone"].get(name, 0) for name, _ in ITA_CATEGORIES}
    if c["skin_tone"].get(NOT_RECORDED):
        categories[NOT_RECORDED] = c["skin_tone"][NOT_RECORDED]
    counts = manifest.get("counts", {})
    if pairs != counts.get("pairs") or n_id != counts.get("identities"):
        raise CardError(f"{root}: the shards hold {pairs} pairs of {n_id} identities, manifest.json records "
                        f"{counts.get('pairs')} of {counts.get('identities')}")
    enc = _get(manifest, "sample", "encoding", default={"format": "png"})
    views = ("vis", "nir") if views_differ else ("vis",)
    return {
        "format": CARD_FORMAT, "version": CARD_VERSION,
        "dataset": {
            "identities": n_id, "pairs": pairs, "pairs_per_identity": counts.get("images_per_identity"),
            "shards": len(manifest["shards"]), "bytes": int(sum(int(s.get("bytes", 0)) for s in manifest["shards"])),
            "encoding": enc, "fingerprint": manifest.get("fingerprint"), "versions": manifest.get("versions", {}),
            "crop": list(_get(manifest, "sample", "vis", default=[CROP_SIZE, CROP_SIZE, 3]))[:2],
            "raw": (list(_get(manifest, "sample", "raw", "vis", default=[]))[:2] or None),
            "label_passes": sorted(_get(manifest, "sample", "labels", default={})),
            "members": list(_get(manifest, "sample", "members", default=["vis.png", "nir.png", "json"])),
            "renderer": manifest.get("renderer", {}), "identity_source": _get(manifest, "identity_source", "kind"),
            "seed": _get(manifest, "config", "seed"), "pairing": shares(c["pairing"], pairs),
            "sample_space": {k: v for k, v in sorted(_get(manifest, "config", "sample_space", default={}).items())
                             if k.endswith("_probability") or k in ("pairing", "led_nm")},
        },
        "pose": {"views": list(views), "nir_same_as_vis": not views_differ,
                 **{v: {k: {"histogram": histogram(pose[v][k], 5.0), **summary(pose[v][k])} for k in ANGLES}
                    for v in views}},
        "expression": {v: shares(c[f"expression_{v}"], pairs) for v in views},
        "accessories": {"glasses": shares(Counter({"yes": glasses, "no": pairs - glasses}), pairs),
                        "headwear": shares(c["headwear"], pairs)},
        "lighting": {"led_nm": shares(c["led_nm"], pairs), "environment": shares(c["environment"], pairs),
                     "background": shares(c["background"], pairs)},
        "camera": {k: summary(v) for k, v in camera.items()},
        "identities": {**{k: shares(c[k], n_id) for k in ("sex", "ancestry", "hair_style", "facial_hair",
                                                                 "makeup")},
                       "age_years": {"histogram": histogram(ages, 10.0), **summary(ages)}},
        "skin_tone": {"method": "ITA = atan((L* - 50) / b*) of the recorded base skin through the skin model "
                                "(linear sRGB, D65), Chardon et al. 1991 categories",
                      "ita_deg": {"histogram": histogram(ita, 5.0), **summary(ita)},
                      "categories": {"counts": categories,
                                     "shares": {k: _r(v / n_id) if n_id else 0.0 for k, v in categories.items()}},
                      "bounds_deg": {name: lower for name, lower in ITA_CATEGORIES[:-1]}},
    }


# ------------------------------------------------------------------------------------ files


def _check_readme(root: Path) -> None:
    path = root / README
    if path.is_file():
        head = path.read_bytes()[:len(README_MARK) + 8].decode("utf-8", "replace").splitlines()[:2]
        if len(head) < 2 or head[0] != "---" or not head[1].startswith(f"# {CARD_FORMAT} v"):  # any card version
            raise CardError(f"{path}: exists and was not written by `nirvis stats`; move it away to write the card")
    elif path.exists() or path.is_symlink():
        raise CardError(f"{path}: exists and is not a regular file")


def write_card(directory: Union[str, Path], *, examples: int = 8, lock: bool = True) -> dict[str, Any]:
    """Write the card of a complete data set: ``card/*.png``, ``stats.json``, ``README.md`` (last).

    Args:
        directory: a render-dataset output.
        examples: pairs in the example grid (one per identity, the first identities; 0: none).
        lock: hold ``output_lock(directory, "stats")`` (False: the caller holds the data set's lock).

    Returns:
        ``{"dir", "files" (relative, sorted), "stats"}``.

    Raises:
        CardError: not a complete, intact data set, or a README.md of someone else's (nothing written).
        WriteError: a file could not be written.
    """
    from contextlib import nullcontext

    from nirvis.output_lock import output_lock
    from nirvis.shards.card_plots import PLOTS, write_plots
    from nirvis.shards.card_text import readme

    root = Path(directory)
    with output_lock(root, "stats") if lock else nullcontext():
        if root.is_dir():
            _check_readme(root)
        stats = collect_stats(root)
        plots = write_plots(root, PLOT_DIR, stats, examples=examples)
        for stale in PLOTS:
            if stale not in plots:
                (root / PLOT_DIR / stale).unlink(missing_ok=True)
        atomic_write_json(root / STATS, stats)
        atomic_write_bytes(root / README, readme(stats, [f"{PLOT_DIR}/{p}" for p in plots], README_MARK).encode())
        files = sorted([README, STATS] + [f"{PLOT_DIR}/{p}" for p in plots])
        return {"dir": str(root), "files": files, "stats": stats}


def card_files(directory: Union[str, Path]) -> list[Path]:
    """The card's files that exist in ``directory`` (for render-dataset's ``--force`` wipe)."""
    from nirvis.shards.card_plots import PLOTS

    root = Path(directory)
    paths = [root / STATS, root / README] + [root / PLOT_DIR / p for p in PLOTS]
    return [p for p in paths if p.is_file() and (p.name != README or _is_ours(p))]


def _is_ours(path: Path) -> bool:
    try:
        _check_readme(path.parent)
    except CardError:
        return False
    return True


def optional_card(directory: Union[str, Path], examples: int = 8) -> Optional[str]:
    """``write_card`` for render-dataset (which holds the lock): None when written, else the reason."""
    try:
        write_card(directory, examples=examples, lock=False)
    except NirvisError as exc:
        return str(exc)
    return None
