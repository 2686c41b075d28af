"""``verify_dataset``: check a rendered data set against its manifest, shard by shard.

Checks: the manifest parses; every listed shard is ``shards/<planned name>`` (the only place the
readers look: an entry pointing anywhere else is reported, not followed) and exists there with the
recorded size and sha256; no unlisted shard lies beside them; each
shard holds exactly the planned samples (keys in (label, index) order, count as recorded); every
sample has exactly the members the manifest's ``sample.members`` names (``vis.png``, ``nir.png``
and ``json`` when it names none: a data set from before encodings); both images decode to uint8
crops of the config's ``resolution`` with 3 and 1 channels, raw frames and label passes
(``shards.members``) decode at their sizes; the JSON parses and its key, label and index match the
member names; the index files the manifest records (``manifest["indexes"]``: each shard's DALI
``.idx`` and ``wids-index.json``, see ``nirvis.shards.index``) exist with the recorded size and
sha256 and hold exactly the bytes derived from the shards (a data set written before index files
records none; ``nirvis index DIR`` adds them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from nirvis.crop import CROP_SIZE
from nirvis.shards.format import (ENCODINGS, MANIFEST, MEMBER_SUFFIXES, SHARD_DIR, decode_png, iter_tar_samples,
                                  list_shard_files, member_suffixes, parse_key, plan_shards, sha256_file)
from nirvis.shards.index import check_indexes
from nirvis.shards.members import decode_member, member_kind


@dataclass
class VerifyReport:
    shards: int = 0
    samples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_sample(key: str, parts: dict[str, bytes], members: tuple[str, ...] = MEMBER_SUFFIXES,
                  crop: int = CROP_SIZE, raw: int = 0) -> Optional[str]:
    extra = sorted(set(parts) - set(members))
    missing = [s for s in members if s not in parts]
    if missing or extra:
        return f"sample {key}: members {sorted(parts)} (expected {', '.join(sorted(members))})"
    try:
        vis = decode_png(parts[members[0]], 3)
        nir = decode_png(parts[members[1]], 1)
    except ValueError as exc:
        return f"sample {key}: image does not decode as expected ({exc})"
    if vis.shape != (crop, crop, 3) or nir.shape != (crop, crop):
        return (f"sample {key}: shapes vis {list(vis.shape)}, nir {list(nir.shape)} "
                f"(expected [{crop}, {crop}, 3], [{crop}, {crop}])")
    for suffix in members[3:]:                       # raw frames and label passes (``shards.members``)
        _, is_raw = member_kind(suffix)
        side = raw if is_raw else crop
        try:
            a = decode_member(suffix, parts[suffix])
        except ValueError as exc:
            return f"sample {key}: {suffix} does not decode as expected ({exc})"
        if a.shape[:2] != (side, side):
            return f"sample {key}: {suffix} is {list(a.shape[:2])} pixels, expected [{side}, {side}]"
    try:
        meta = json.loads(parts["json"].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"sample {key}: json does not parse ({exc})"
    label, index = parse_key(key)
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("label") != label or meta.get("index") != index:
        return f"sample {key}: json key/label/index do not match the member names"
    return None


def verify_dataset(directory: str | Path, decode: bool = True,
                   on_shard: Optional[Callable[[str], None]] = None, indexes: bool = True) -> VerifyReport:
    """Verify ``directory``; problems name the shard (and sample) or the index file. Raises
    FileNotFoundError when there is no manifest (an incomplete or foreign directory).
    ``indexes=False``: leave the index files out (``nirvis index`` rewrites them)."""
    root = Path(directory)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    if not mpath.is_file():
        raise FileNotFoundError(f"{mpath}: not found (render incomplete? rerun render-dataset to finish it)")
    report = VerifyReport()
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        cfg = manifest["config"]
        identities, per_identity, shard_size = (int(cfg["identities"]), int(cfg["images_per_identity"]),
                                                int(cfg["shard_size"]))
        entries = manifest["shards"]
        if identities < 1 or per_identity < 1 or shard_size < 1 or not isinstance(entries, list):
            raise ValueError("config.identities, images_per_identity and shard_size must be >= 1, shards a list")
        members = tuple(manifest.get("sample", {}).get("members", MEMBER_SUFFIXES))  # none recorded: PNG
        if members[:3] not in [member_suffixes(ext) for ext in ENCODINGS.values()]:
            raise ValueError(f"sample.members is {list(members)}, not vis.<ext>, nir.<ext>, json of a known "
                             f"encoding ({', '.join(ENCODINGS.values())}) first")
        for suffix in members[3:]:
            member_kind(suffix)                      # raises on an unknown member
        crop = int(cfg.get("resolution", CROP_SIZE))
        raw = int(cfg.get("sample_space", {}).get("raw_resolution", 0))
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        report.problems.append(f"{mpath}: malformed manifest ({exc})")
        return report
    # memory follows the shards the manifest lists (bounded by its size), never its numbers:
    # the planned count is arithmetic, and the plans are built only when it matches
    planned = -(-identities * per_identity // shard_size)
    if len(entries) != planned:
        report.problems.append(f"{mpath}: lists {len(entries)} shards, the config plans {planned}")
        return report
    plans = plan_shards(identities, per_identity, shard_size)
    listed = {Path(e.get("name", "")).name for e in entries}
    for extra in list_shard_files(root / SHARD_DIR):
        if extra.name not in listed:
            report.problems.append(f"{extra}: shard not listed in the manifest")
    for plan, entry in zip(plans, entries):
        # the readers take shards from DIR/shards only, so that is what is verified: a manifest
        # entry pointing elsewhere (absolute, "..", another folder) is a finding, never followed
        path = root / SHARD_DIR / plan.name
        report.shards += 1
        if on_shard:
            on_shard(path.name)
        name = entry.get("name")
        if name != f"{SHARD_DIR}/{plan.name}":
            report.problems.append(f"{mpath}: shard entry {name!r} where {SHARD_DIR}/{plan.name} is planned "
                                   f"(shards are read from {root / SHARD_DIR} only)")
            continue
        if not path.is_file():
            report.problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        if size != entry.get("bytes"):
            report.problems.append(f"{path}: {size} bytes, the manifest records {entry.get('bytes')}")
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            report.problems.append(f"{path}: sha256 {digest[:16]}... does not match the manifest "
                                   f"({str(entry.get('sha256'))[:16]}...): the shard is corrupted")
        if entry.get("samples") != plan.count:
            report.problems.append(f"{path}: manifest records {entry.get('samples')} samples, planned {plan.count}")
        expected = plan.keys()
        seen: list[str] = []
        try:
            for key, parts in iter_tar_samples(path):
                seen.append(key)
                problem = _check_sample(key, parts, members, crop, raw) if decode else None
                if problem:
                    report.problems.append(f"{path}: {problem}")
        except Exception as exc:  # noqa: BLE001 - a broken tar is a finding, not a crash
            report.problems.append(f"{path}: unreadable tar ({type(exc).__name__}: {exc})")
            continue
        report.samples += len(seen)
        if seen != expected:
            report.problems.append(f"{path}: holds {len(seen)} samples {seen[:1]}..{seen[-1:]}, planned "
                                   f"{len(expected)} {expected[:1]}..{expected[-1:]}")
    total = manifest.get("counts", {}).get("pairs")
    if total is not None and report.samples != total and not report.problems:
        report.problems.append(f"{mpath}: counts.pairs is {total}, the shards hold {report.samples}")
    if indexes:
        bad_shards = [p.name for p in plans if any(p.name in problem for problem in report.problems)]
        report.problems += check_indexes(root, manifest, bad_shards)
    return report


def require_verified(dataset: str | Path, error: Callable[[str], Exception], refusal: str = "does not verify",
                     hint: str = "", indexes: bool = True) -> None:
    """Raise ``error(message)`` unless ``dataset`` passes ``verify_dataset(decode=False)`` (sizes,
    sha256, sample counts, keys and labels against the manifest; the hashes cover the PNGs; the
    index files unless ``indexes=False``).

    The message is ``"{dataset}: {refusal}: <first three problems>; run `nirvis verify {dataset}`
    for the full list{hint}"``; a missing data set is ``error(<what is missing>)``. Used by
    ``export`` and ``train``, so neither reads a corrupted, truncated or padded data set.
    """
    try:
        report = verify_dataset(dataset, decode=False, indexes=indexes)
    except FileNotFoundError as exc:
        raise error(str(exc)) from None
    if not report.ok:
        shown = "; ".join(report.problems[:3])
        more = f" (+{len(report.problems) - 3} more)" if len(report.problems) > 3 else ""
        raise error(f"{dataset}: {refusal}: {shown}{more}; run `nirvis verify {dataset}` for the full list{hint}")


def index_dataset(root: str | Path) -> dict[str, Any]:
    """``nirvis index DIR`` (here, not in ``shards.index``, because it verifies first): (re)write
    the index files of a complete data set (e.g. one rendered before index files existed, or one
    whose index files were damaged) and record them in its manifest. The shards must verify first
    (sizes, sha256, keys; the index files are not looked at); files that already hold the right
    bytes are left alone, so on an intact data set nothing changes.

    Returns:
        ``{"dir", "shards", "pairs", "written"}`` (``written``: the files rewritten, relative to
        ``root``).

    Raises:
        IndexFileError: the data set does not verify (names its first problems).
        FileNotFoundError: no data set / no manifest at ``root``.
    """
    from nirvis.atomic import atomic_write_json
    from nirvis.output_lock import output_lock
    from nirvis.shards.index import IndexFileError, index_files, index_name, write_indexes
    from nirvis.shards.reader import read_manifest

    root = Path(root)
    with output_lock(root, "index"):
        require_verified(root, IndexFileError, "refusing to index a data set that does not verify", indexes=False)
        manifest = read_manifest(root)
        before = {p: p.read_bytes() for p in index_files(root, manifest["shards"]) if p.is_file()}
        record = write_indexes(root, manifest["shards"], index_name(manifest))
        written = sorted(p.relative_to(root).as_posix() for p in index_files(root, manifest["shards"])
                         if before.get(p) != p.read_bytes())
        if manifest.get("indexes") != record:
            manifest["indexes"] = record
            atomic_write_json(root / MANIFEST, manifest)
            written.append(MANIFEST)
        pairs = sum(int(s["samples"]) for s in manifest["shards"])
        return {"dir": str(root), "shards": len(manifest["shards"]), "pairs": pairs, "written": written}

