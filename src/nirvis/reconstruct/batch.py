"""``nirvis reconstruct``: photos -> face assets, one directory per identity, resumable and parallel.

Output directory ``OUT``::

    OUT/index.json                 identities in input order: label, name, asset dir, status, photos
    OUT/summary.json               counts by status, mean reprojection error, seconds per photo
    OUT/reports/<dir>.json         one report per identity (its photos' statuses, errors, timings)
    OUT/<dir>/                     the face asset (``nirvis.faces.save_asset``) of each ok identity

``<dir>`` is ``<7-digit input position>-<name>``, so ``render-dataset --identity-source OUT``
(which takes asset directories in name order) labels identities in input order. An identity is
done when its report exists and lists the same photo hashes; assets are staged and renamed,
reports written atomically after the asset, so a killed run (even ``kill -9``) resumes where it
stopped and gives the same bytes. Memory is bounded: workers hold one identity at a time and the
parent only the small reports. Under ``torchrun`` rank r takes identities r, r + W, ...; the
rank that finds every identity done writes the index.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from nirvis import __version__
from nirvis.atomic import atomic_write_json, remove_stale_temporaries
from nirvis.distributed import DistEnv, dist_env
from nirvis.output_lock import output_lock
from nirvis.errors import NirvisError
from nirvis.reconstruct.fit import FitConfig
from nirvis.reconstruct.photo_io import PHOTO_SUFFIXES, list_photos

INDEX_FILE = "index.json"
SUMMARY_FILE = "summary.json"
REPORT_DIR = "reports"
INDEX_TAG = "nirvis-reconstruct-index"
INDEX_VERSION = 1


class ReconstructError(NirvisError):
    """A reconstruction run cannot start (bad inputs or options); per-photo failures are reported, not raised."""


@dataclass(frozen=True)
class ReconstructConfig:
    """Settings of a reconstruction run (recorded in the index).

    Attributes:
        texture_resolution: side of the UV maps written (px).
        led_nm: NIR LED wavelength the NIR albedo is computed for.
        min_iod_px: photos whose inter-ocular distance is smaller are skipped ("face too small").
        max_yaw_deg: photos with a larger fitted |yaw| are skipped ("extreme pose"). MediaPipe's
            mesh saturates beyond ~55 deg: renders turned 55, 65, 75 and 85 deg fit at 54, 56, 60
            and 54 deg, so the threshold sits below that.
        max_error_iod: fits whose mean landmark error exceeds this fraction of the inter-ocular
            distance are rejected ("fit failed").
        estimate_hair: give the asset a hair shell estimated from the photo
            (``hair_estimate.estimate_hair``: colour, bare scalp, length); False: no hair shell.
        refine: refine a one-photo identity's shape and pose by the photo's shading
            (``refine.refine_photometric``) after the landmark fit. Off by default: on 8 bench
            identities it lowered the median shape error by 0.03-0.06 mm (2.10 -> 2.04) for
            0.38 s per photo.
        fit: the landmark fit settings.
    """

    texture_resolution: int = 512
    led_nm: int = 850
    min_iod_px: float = 20.0
    max_yaw_deg: float = 50.0
    max_error_iod: float = 0.08
    estimate_hair: bool = True
    refine: bool = False
    fit: FitConfig = field(default_factory=FitConfig)

    def __post_init__(self) -> None:
        if self.texture_resolution not in (128, 256, 512, 1024, 2048):
            raise ReconstructError(f"texture_resolution must be one of 128..2048 (powers of 2), got "
                                   f"{self.texture_resolution}")
        if not 700 <= self.led_nm <= 1100:
            raise ReconstructError(f"led_nm must lie in 700..1100, got {self.led_nm}")


def _dir_name(position: int, name: str) -> str:
    return f"{position:07d}-{name}"


def _done(out: Path, dir_name: str, digests: Sequence[str]) -> Optional[dict[str, Any]]:
    """The identity's report when it was finished with the same photos, else None."""
    path = out / REPORT_DIR / f"{dir_name}.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if [p.get("sha256") for p in report.get("photos", [])] != list(digests):
        return None
    if report.get("status") == "ok" and not (out / dir_name / "asset.json").is_file():
        return None
    return report


def _digests(files: Sequence[str]) -> list[str]:
    from nirvis.reconstruct.photo_io import file_sha256

    out = []
    for f in files:
        try:
            out.append(file_sha256(f))
        except OSError:
            out.append("")
    return out


_WORKER: dict[str, Any] = {}


def _work(job: tuple[str, str, list[str], dict[str, Any]]) -> dict[str, Any]:
    """Reconstruct one identity in a worker (its detector is created once per process)."""
    from nirvis.faces.asset import save_asset
    from nirvis.reconstruct.identity import reconstruct_identity

    out, dir_name, files, cfg_dict = job
    cfg = _config_from_dict(cfg_dict)
    asset, report = reconstruct_identity(files, cfg, _WORKER)
    report["dir"] = dir_name if asset is not None else None
    if asset is not None:
        save_asset(asset, Path(out) / dir_name, overwrite=True)
    atomic_write_json(Path(out) / REPORT_DIR / f"{dir_name}.json", report)
    return report


def _config_from_dict(d: dict[str, Any]) -> ReconstructConfig:
    d = dict(d)
    d["fit"] = FitConfig(**d["fit"])
    return ReconstructConfig(**d)


def reconstruct_dataset(inputs: Sequence[str], out: str | os.PathLike, config: ReconstructConfig = ReconstructConfig(),
                        workers: int = 1, group_by_folder: bool = False, progress: bool = True) -> dict[str, Any]:
    """Reconstruct every identity of ``inputs`` into ``out`` (see the module docstring).

    Args:
        inputs: photo files and/or folders.
        out: the asset directory (created; an existing one is resumed).
        config: ReconstructConfig.
        workers: processes reconstructing in parallel on this rank.
        group_by_folder: one identity per sub-folder (its photos fused) instead of one per photo.
        progress: show a progress bar (identities/s, ETA) on stderr.

    Returns:
        The summary dict (also written to ``out/summary.json`` once every identity is done).

    Raises:
        ReconstructError: no inputs, a missing input, ``out`` is a file, ``workers`` < 1.
        OutputLockedError: another reconstruct is writing ``out``.
    """
    if workers < 1:
        raise ReconstructError(f"--workers must be >= 1, got {workers}")
    if not inputs:
        raise ReconstructError("no input photos or folders given")
    from nirvis.atomic import check_output_apart

    check_output_apart(out, [p for p in inputs if Path(p).is_dir()])   # assets would be read as photos
    try:
        identities = list_photos(list(inputs), group_by_folder)
    except FileNotFoundError as exc:
        raise ReconstructError(str(exc)) from None
    if not identities:
        raise ReconstructError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) found under {list(inputs)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReconstructError(f"{out}: exists and is not a directory")
    env = dist_env()
    with output_lock(out, "reconstruct", tag=f"rank{env.rank}" if env.distributed else ""):
        return _reconstruct_locked(out, identities, config, workers, progress, env)


def _reconstruct_locked(out: Path, identities: list[tuple[str, list[str]]], config: ReconstructConfig, workers: int,
                        progress: bool, env: DistEnv) -> dict[str, Any]:
    """``reconstruct_dataset`` once this process holds the output's lock."""
    from tqdm import tqdm

    (out / REPORT_DIR).mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    remove_stale_temporaries(out / REPORT_DIR)
    cfg_dict = asdict(config)
    names = [_dir_name(k, name) for k, (name, _) in enumerate(identities)]
    todo = []
    for k, ((_, files), dir_name) in enumerate(zip(identities, names)):
        if k % env.world_size != env.rank:
            continue
        if _done(out, dir_name, _digests(files)) is None:
            todo.append((str(out), dir_name, files, cfg_dict))
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="id", desc="reconstruct" + (f" rank {env.rank}" if env.distributed else ""),
               disable=not progress)
    try:
        if workers == 1 or len(todo) <= 1:
            for job in todo:
                _work(job)
                bar.update(1)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                for _ in pool.map(_work, todo):
                    bar.update(1)
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    return write_index(out, identities, names, config, elapsed=elapsed, processed=len(todo))


def write_index(out: Path, identities: list[tuple[str, list[str]]], names: list[str], config: ReconstructConfig,
                elapsed: float = 0.0, processed: int = 0) -> dict[str, Any]:
    """Write ``index.json`` and ``summary.json`` when every identity has its report; return the summary
    (``complete`` False, nothing written, while some are missing, e.g. other ranks still working)."""
    reports = []
    for dir_name in names:
        path = out / REPORT_DIR / f"{dir_name}.json"
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            reports.append(None)
    missing = sum(r is None for r in reports)
    counts: dict[str, int] = {}
    photo_counts: dict[str, int] = {}
    errors, seconds = [], []
    entries = []
    label = 0
    for (name, _), report in zip(identities, reports):
        if report is None:
            continue
        counts[report["status"]] = counts.get(report["status"], 0) + 1
        for p in report["photos"]:
            photo_counts[p["status"]] = photo_counts.get(p["status"], 0) + 1
            if p.get("error_iod") is not None and p["status"] == "ok":
                errors.append(p["error_iod"])
            if p.get("seconds", {}).get("total") is not None:
                seconds.append(p["seconds"]["total"])
        photos = [{"file": p["file"], "sha256": p["sha256"], "status": p["status"]} for p in report["photos"]]
        entry = {"name": name, "dir": report.get("dir"), "status": report["status"], "photos": photos}
        if report["status"] == "ok":
            entry["label"] = label
            label += 1
        entries.append(entry)
    summary = {"complete": missing == 0, "identities": len(identities), "missing": missing,
               "identity_status": dict(sorted(counts.items())), "photo_status": dict(sorted(photo_counts.items())),
               "assets": label,
               "mean_error_iod": round(float(np.mean(errors)), 5) if errors else None,
               "seconds_per_photo": round(float(np.mean(seconds)), 3) if seconds else None,
               "processed_this_run": processed, "elapsed_s": round(elapsed, 2)}
    if missing == 0:
        doc = {"format": INDEX_TAG, "version": INDEX_VERSION, "nirvis_version": __version__,
               "config": asdict(config), "identities": entries}
        atomic_write_json(out / INDEX_FILE, doc)
        atomic_write_json(out / SUMMARY_FILE, {k: v for k, v in summary.items() if k not in ("processed_this_run",
                                                                                            "elapsed_s")})
    return summary
