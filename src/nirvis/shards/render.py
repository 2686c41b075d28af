"""``render_dataset``: render a config into resumable, byte-reproducible WebDataset shards.

Work assignment never touches the bytes:

* the shard plan is samples in (label, index) order chunked into ``shard_size`` pieces, and each
  shard is rendered in fixed chunks of ``batch_size`` consecutive samples, so a shard's content is
  a function of the config alone (the renderer's output may depend on batch composition, so the
  batches are part of the plan too);
* a shard is written under a temporary name in ``DIR/shards`` and renamed when complete; its DALI
  index ``shard-NNNNNN.idx`` (derived from the tar, ``shards.index``) and then its sidecar
  ``shard-NNNNNN.tar.json`` (sha256, count, config fingerprint) are written after the rename;
  a rerun skips shards whose sidecar matches and whose bytes hash to the recorded sha256;
* CPU worker processes (``spawn`` context, each capped to its share of the cores) take blocks of
  consecutive batches (``plan_blocks``) from a queue, cache prepared faces per identity and send
  the encoded samples back; the parent writes each shard once all its blocks are in;
* under ``torchrun`` (RANK / WORLD_SIZE / LOCAL_RANK) rank r renders shards r, r + world, ... on
  ``cuda:LOCAL_RANK`` with ``--device cuda``, and rank 0 writes the manifest
  once every shard's sidecar exists (polling, with a timeout): no extra code for many nodes;
* once every shard is complete, rank 0 rewrites any DALI index that is missing or stale (a data
  set resumed from before index files, or a damaged index), writes ``DIR/wids-index.json`` and
  then ``DIR/manifest.json``, last, atomically.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import queue
import shutil
import sys
import time
import traceback
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from nirvis import __version__
from nirvis.atomic import (atomic_write, atomic_write_bytes, atomic_write_json, check_output_apart,
                           remove_stale_temporaries)
from nirvis.crop import CROP_SIZE
from nirvis.distributed import DistEnv, dist_env
from nirvis.errors import NirvisError
from nirvis.output_lock import output_lock
from nirvis.shards.config import ConfigError, RenderDatasetConfig, dump_yaml, fingerprint, load_config
from nirvis.shards.format import (CONFIG_FILE, ENCODINGS, FORMAT_TAG, FORMAT_VERSION, FORMAT_VERSION_ENCODED, MANIFEST,
                                  SHARD_DIR, ShardPlan, ShardWriter, encode_image, identity_record, member_suffixes,
                                  plan_shards, read_json, sample_key, sample_metadata, sha256_file, sidecar_path)
from nirvis.shards.members import (PASS_SUFFIX, RENDER_PASS, encode_label, extra_members, label_record,
                                    member_kind)
from nirvis.shards.index import WIDS_INDEX, dali_index_path, dataset_name, write_dali_index, write_indexes

_FACE_CACHE = 4  # prepared faces kept per process (samples come in label order)


class RenderDatasetError(NirvisError, ValueError):
    """A user-facing render-dataset error (bad arguments, an output directory in the way)."""


# ------------------------------------------------------------------------------ rendering


@dataclass(frozen=True)
class _Job:
    """Everything a (worker) process needs to render shards; picklable."""

    config: RenderDatasetConfig      # effective: backend resolved, identity_source absolute
    out: str
    device: str                      # concrete torch device string
    asset_dirs: Optional[tuple[str, ...]]
    fingerprint: str


def _fingerprint(cfg: RenderDatasetConfig, source_digest: Optional[str] = None) -> str:
    """The data set's identity for resuming: format, renderer version, config and, for face-asset
    sources, ``identity_source_digest`` (so changed assets are rendered again)."""
    from nirvis.render.pair import RENDERER_VERSION

    doc = {"format": FORMAT_VERSION, "renderer": RENDERER_VERSION, "config": cfg.data_dict()}
    if source_digest is not None:
        doc["identity_source_sha256"] = source_digest
    return fingerprint(doc)


def identity_source_digest(asset_dirs: Sequence[str]) -> str:
    """sha256 over the face assets used, in label order: each directory's ``asset.json`` bytes
    (mesh and landmark references, metadata such as a reconstruction's photo hashes) and the
    names and sizes of its files (the maps are not read: hashing every map of a large source would
    cost more than its rendering setup)."""
    import hashlib

    h = hashlib.sha256()
    for d in asset_dirs:
        p = Path(d)
        h.update(p.name.encode() + b"\0" + (p / "asset.json").read_bytes())
        for f in sorted(x for x in p.iterdir() if x.is_file()):
            h.update(f"{f.name}:{f.stat().st_size};".encode())
    return h.hexdigest()


class _ShardRenderer:
    """Renders planned shards of one job; caches prepared faces by label."""

    def __init__(self, job: _Job):
        self.job = job
        self.cfg = job.config
        self._faces: "OrderedDict[int, tuple[Any, Optional[int], tuple, Optional[dict]]]" = OrderedDict()
        if job.device.startswith("cuda:"):  # one GPU per rank / worker (also for nvdiffrast contexts)
            import torch

            torch.cuda.set_device(torch.device(job.device))

    def identity_asset(self, label: int) -> tuple[Any, Optional[int]]:
        """The FaceAsset of ``label`` and its identity seed (None when the asset records none):
        procedural identity ``label`` of the config's seed (``procedural_identity_asset``:
        biophysical VIS and NIR maps), or the asset directory of that label. The same asset
        whatever the job's device: the device only decides where ``face`` puts the tensors."""
        from nirvis.faces import identity_seed, load_asset
        from nirvis.render.prepared_face import procedural_identity_asset

        c = self.cfg
        if self.job.asset_dirs is None:
            asset = procedural_identity_asset(c.seed, label, resolution=c.texture_resolution,
                                              led_nm=c.sample_space.led_nm)
            return asset, identity_seed(c.seed, label)
        asset = load_asset(self.job.asset_dirs[label])
        ident = asset.metadata.get("identity") if isinstance(asset.metadata, dict) else None
        return asset, ident.get("seed") if isinstance(ident, dict) else None

    def face(self, label: int):
        """(PreparedFace on the job's device, identity seed, topology key) of ``label``, cached."""
        hit = self._faces.get(label)
        if hit is not None:
            self._faces.move_to_end(label)
            return hit
        from nirvis.render.prepared_face import prepare_face

        c = self.cfg
        asset, seed = self.identity_asset(label)
        pf = prepare_face(asset, led_nm=c.sample_space.led_nm, nir_method=c.nir_method, backend=c.backend,
                          device=self.job.device, subdivision_levels=c.subdivision_levels)
        tri = pf.faces.detach().cpu().contiguous()
        topo = (tuple(tri.shape), hash(tri.numpy().tobytes()))
        entry = (pf, seed, topo, identity_record(asset.metadata))
        self._faces[label] = entry
        while len(self._faces) > _FACE_CACHE:
            self._faces.popitem(last=False)
        return entry

    def render_samples(self, chunk: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """The samples (label, index) of ``chunk`` rendered: per sample its ``key``, ``vis`` uint8
        [S, S, 3], ``nir`` uint8 [S, S] (S = ``resolution``), ``meta`` (the sample JSON) and
        ``extra`` (member suffix -> array: raw frames, label passes; ``shards.members``): what a
        shard of the config stores, before encoding (PNG is lossless: decoding gives these arrays
        back)."""
        import torch

        from nirvis.render.pair import RENDERER_VERSION, pair_seed, render_batch, sample_params

        c = self.cfg
        pairing = c.sample_space.pairing
        members = extra_members(ENCODINGS[c.encoding], c.raw, c.passes, pairing)       # the same for every sample
        labels = label_record(c.passes) if c.passes else None
        entries = [self.face(label) for label, _ in chunk]
        params = [sample_params(c.sample_space, pair_seed(c.seed, label, i)) for label, i in chunk]
        groups: dict[tuple, list[int]] = {}
        for k, e in enumerate(entries):  # one render call per mesh topology, in order of appearance
            groups.setdefault(e[2], []).append(k)
        results: list[Optional[dict[str, Any]]] = [None] * len(chunk)
        for ids in groups.values():
            with torch.no_grad():
                out = render_batch([entries[k][0] for k in ids], [params[k] for k in ids], backend=c.backend,
                                   passes=[RENDER_PASS[p] for p in c.passes], crop_size=c.resolution, raw=c.raw)

            def np_(t):
                return None if t is None else t.detach().cpu().numpy()

            vis, nir = np_(out.vis), np_(out.nir)
            v5, n5, v68, n68 = (np_(out.vis_landmarks5), np_(out.nir_landmarks5), np_(out.vis_landmarks68),
                                np_(out.nir_landmarks68))
            extra = _extra_arrays(out, c.passes, pairing, c.raw, ENCODINGS[c.encoding])
            for j, k in enumerate(ids):
                label, index = chunk[k]
                key = sample_key(label, index)
                meta = sample_metadata(
                    key=key, label=label, index=index, identity_seed=entries[k][1], params=params[k],
                    vis_lm5=v5[j], nir_lm5=n5[j], vis_lm68=None if v68 is None else v68[j],
                    nir_lm68=None if n68 is None else n68[j], backend=c.backend, renderer_version=RENDERER_VERSION,
                    identity_source="procedural" if self.job.asset_dirs is None else "assets",
                    identity=entries[k][3], crop_size=c.resolution,
                    raw=None if out.raw is None else {
                        "size": c.sample_space.raw_resolution,
                        "vis": {"5": out.raw.vis_landmarks5[j].numpy(), "68": None if out.raw.vis_landmarks68 is None
                                else out.raw.vis_landmarks68[j].numpy()},
                        "nir": {"5": out.raw.nir_landmarks5[j].numpy(), "68": None if out.raw.nir_landmarks68 is None
                                else out.raw.nir_landmarks68[j].numpy()}},
                    members=members, labels=labels)
                results[k] = {"key": key, "vis": vis[j], "nir": nir[j], "meta": meta,
                              "extra": {suffix: a[j] for suffix, a in extra.items()}}
        return results  # type: ignore[return-value]

    def _render_chunk(self, chunk: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """``render_samples`` with the images encoded in the config's ``encoding`` and the label
        passes as PNG (what the shard writer takes)."""
        c = self.cfg

        def enc(img: np.ndarray) -> bytes:
            return encode_image(img, c.encoding, quality=c.quality, png_compression=c.png_compression)

        def enc_extra(suffix: str, a: np.ndarray) -> bytes:
            kind, _ = member_kind(suffix)
            return enc(a) if kind in ("vis", "nir") else encode_label(kind, a)

        return [dict(r, vis=enc(r["vis"]), nir=enc(r["nir"]),
                     extra={s: enc_extra(s, a) for s, a in r["extra"].items()}) for r in self.render_samples(chunk)]

    def render_block(self, block: "_Block", progress: Callable[[int], None]) -> list[dict[str, Any]]:
        """Encoded samples (key, vis/nir image bytes, metadata) of ``block``, rendered in the shard's
        fixed chunks of ``batch_size`` samples."""
        samples = block.plan.samples()[block.start:block.stop]
        bs = self.cfg.batch_size
        out: list[dict[str, Any]] = []
        for s in range(0, len(samples), bs):
            chunk = samples[s:s + bs]
            out.extend(self._render_chunk(chunk))
            progress(len(chunk))
        return out

    def render_shard(self, plan: ShardPlan, progress: Callable[[int], None]) -> dict[str, Any]:
        """Render and write one whole shard in this process."""
        return write_shard(self.job, plan, self.render_block(_Block(plan, 0, plan.count), progress))


def _extra_arrays(out: Any, passes: Sequence[str], pairing: str, raw: bool, ext: str) -> dict[str, np.ndarray]:
    """Member suffix -> batch array [B, ...] of a ``RenderedBatch``'s raw frames and label passes,
    in ``members.extra_members`` order."""
    arrays: dict[str, np.ndarray] = {}
    if raw:
        arrays[f"vis_raw.{ext}"], arrays[f"nir_raw.{ext}"] = out.raw.vis.numpy(), out.raw.nir.numpy()
    for name in passes:
        suffix, key = PASS_SUFFIX[name], RENDER_PASS[name]
        sets = [("", out.passes, None if out.raw is None else out.raw.passes)] if pairing == "shared" else [
            ("vis_", out.passes, None if out.raw is None else out.raw.passes),
            ("nir_", out.nir_passes, None if out.raw is None else out.raw.nir_passes)]
        for spectrum, crop, frame in sets:
            arrays[f"{spectrum}{suffix}.png"] = crop[key].numpy()
            if raw:
                arrays[f"{spectrum}{suffix}_raw.png"] = frame[key].numpy()
    return arrays


def write_shard(job: _Job, plan: ShardPlan, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Write ``samples`` (all of ``plan``'s, encoded, in order) as the shard: a temporary file,
    fsynced and renamed (a shard is complete or absent), then its sidecar; returns the sidecar record."""
    final = Path(job.out) / SHARD_DIR / plan.name

    def write(f: Any) -> None:
        writer = ShardWriter(f)
        for r in samples:
            writer.add_sample(r["key"], r["vis"], r["nir"], r["meta"], ENCODINGS[job.config.encoding],
                              extra=r.get("extra"))
        writer.close()

    atomic_write(final, write)
    write_dali_index(final)
    record = {"format": FORMAT_TAG, "shard": plan.name, "index": plan.index, "samples": plan.count,
              "first_key": samples[0]["key"], "last_key": samples[-1]["key"],
              "bytes": final.stat().st_size, "sha256": sha256_file(final), "fingerprint": job.fingerprint}
    atomic_write_json(sidecar_path(final), record)
    return record


@dataclass(frozen=True)
class _Block:
    """Samples [start, stop) of a shard (positions within it, on its batch grid): the unit of
    work a worker process takes. Consecutive samples share identities, so a worker prepares a
    face once per block it appears in."""

    plan: ShardPlan
    start: int
    stop: int


def plan_blocks(plans: Sequence[ShardPlan], batch_size: int, images_per_identity: int, workers: int) -> list[_Block]:
    """Every shard of ``plans`` cut into blocks of whole batches, in shard order (a shard's last
    block may be shorter).

    The block length is a multiple of both the batch size and the pairs per identity where that
    stays small (so that, in shards that start on an identity, no identity is split between two
    workers and prepared twice), at least ``MIN_BLOCK_PAIRS`` pairs, and no longer than leaves
    about four blocks per worker (so the workers finish together)."""
    unit = batch_size * images_per_identity // math.gcd(batch_size, images_per_identity)
    if unit > MAX_BLOCK_PAIRS:
        unit = batch_size
    total = sum(p.count for p in plans)
    longest = max(unit, total // max(1, 4 * workers))
    step = unit * max(1, min(-(-MIN_BLOCK_PAIRS // unit), longest // unit))
    return [_Block(p, a, min(a + step, p.count)) for p in plans for a in range(0, p.count, step)]


#: Pairs per block handed to a worker process (see ``plan_blocks``): long enough that faces are
#: prepared once per block, short enough to balance the workers.
MIN_BLOCK_PAIRS = 64
MAX_BLOCK_PAIRS = 256


def worker_threads(workers: int, cores: Optional[int] = None) -> int:
    """Threads each of ``workers`` processes may use (torch, numba, llvmpipe) so that together they
    never run more threads than ``cores`` (default: the CPUs this process may use)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


#: Variables that size a process's thread pools when its libraries load (OpenMP: torch's and
#: numba's; MKL and OpenBLAS; llvmpipe).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "LP_NUM_THREADS")


@contextlib.contextmanager
def thread_environment(n: int) -> Iterator[None]:
    """While open, ``THREAD_VARIABLES`` say at most ``n`` threads (a smaller value the user set is
    kept), so that processes spawned inside size their pools before importing torch or numba.
    Capping the pools later (``torch.set_num_threads``) is not enough: idle OpenMP threads spin,
    and two workers' spinning pools on two cores halve each other's speed."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    try:
        for k, old in saved.items():
            os.environ[k] = str(min(n, int(old))) if old and old.isdigit() and int(old) > 0 else str(n)
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


@dataclass
class _SteadyRate:
    """Pairs/s from the first progress report on: without process start-up and the first faces'
    one-off preparation (what a long job approaches)."""

    first: float = 0.0
    last: float = 0.0
    reports: int = 0                 # after the first
    pairs: int = 0                   # after the first

    def report(self, n: int) -> None:
        now = time.perf_counter()
        if not self.first:
            self.first = now
        else:
            self.reports += 1
            self.pairs += int(n)
        self.last = now

    def pairs_per_s(self) -> float:
        span = self.last - self.first
        return self.pairs / span if self.reports >= 2 and span > 0 else 0.0


def _set_threads(n: int) -> None:
    """Cap this process's compute threads: torch's, numba's and (before a GL context exists)
    llvmpipe's."""
    import torch

    os.environ["LP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


def _worker_main(job: _Job, worker_id: int, tasks: Any, messages: Any, threads: int,
                 parent_pid: Optional[int] = None) -> None:
    """Entry point of a render worker process: blocks from ``tasks`` until None, each sent back
    encoded. Exits when its parent is gone (e.g. killed with SIGKILL), so no orphan keeps working."""
    def check_parent() -> None:
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(3)

    def on_pairs(n: int) -> None:
        check_parent()
        messages.put(("pairs", n, None))

    try:
        import torch

        _set_threads(threads)
        if job.device == "cuda":
            job = _replace_device(job, f"cuda:{worker_id % max(1, torch.cuda.device_count())}")
        renderer = _ShardRenderer(job)
    except BaseException:
        messages.put(("error", None, traceback.format_exc()))
        return
    while True:
        check_parent()
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            continue
        if task is None:
            return
        idx, block = task
        try:
            messages.put(("block", idx, renderer.render_block(block, on_pairs)))
        except BaseException:
            messages.put(("error", block.plan.index, traceback.format_exc()))
            return


def _replace_device(job: _Job, device: str) -> _Job:
    return _Job(config=job.config, out=job.out, device=device, asset_dirs=job.asset_dirs, fingerprint=job.fingerprint)


def _run_workers(job: _Job, todo: Sequence[ShardPlan], workers: int, on_pairs: Callable[[int], None],
                 on_done: Callable[[int, dict], None]) -> None:
    """Render the shards ``todo``: in this process with one worker; otherwise ``workers`` spawned
    processes take blocks of consecutive batches from a queue and send back encoded samples, and
    this process writes each shard (in sample order) once all its blocks are in."""
    blocks = plan_blocks(todo, job.config.batch_size, job.config.images_per_identity, workers)
    if workers <= 1 or len(blocks) <= 1:
        renderer = _ShardRenderer(job)
        for plan in todo:
            on_done(plan.index, renderer.render_shard(plan, on_pairs))
        return
    n = min(workers, len(blocks))
    ctx = mp.get_context("spawn")
    tasks, messages = ctx.Queue(), ctx.Queue()
    for k, block in enumerate(blocks):
        tasks.put((k, block))
    for _ in range(n):
        tasks.put(None)
    threads = worker_threads(n)
    procs = [ctx.Process(target=_worker_main, args=(job, w, tasks, messages, threads, os.getpid()),
                         name=f"nirvis-render-{w}", daemon=True) for w in range(n)]
    with thread_environment(threads):
        for p in procs:
            p.start()
    pending: dict[int, dict[int, list]] = {}          # shard index -> block start -> encoded samples
    blocks_of = Counter(b.plan.index for b in blocks)                 # shard index -> its number of blocks
    remaining = len(blocks)
    try:
        while remaining:
            try:
                kind, idx, payload = messages.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"render worker {dead[0].name} died (exit code {dead[0].exitcode}); "
                                       "rerun to resume") from None
                if all(p.exitcode == 0 for p in procs) and messages.empty():
                    raise RuntimeError("render workers exited before finishing their shards; rerun to resume") from None
                continue
            if kind == "pairs":
                on_pairs(int(idx))
            elif kind == "block":
                block = blocks[int(idx)]
                got = pending.setdefault(block.plan.index, {})
                got[block.start] = payload
                remaining -= 1
                if len(got) == blocks_of[block.plan.index]:
                    samples = [r for start in sorted(got) for r in got[start]]
                    del pending[block.plan.index]
                    on_done(block.plan.index, write_shard(job, block.plan, samples))
            else:
                where = f"shard {idx}" if idx is not None else "start-up"
                raise RuntimeError(f"render worker failed ({where}):\n{payload}")
    finally:
        for p in procs:
            if p.is_alive() and remaining:
                p.terminate()
        for p in procs:
            p.join(timeout=30)


# --------------------------------------------------------------------------- output directory


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if a == b else [f"'{prefix}' is {a!r} there, {b!r} here"]


def _wipe(out: Path) -> None:
    """Remove what render-dataset writes (and nothing else) from ``out``."""
    shutil.rmtree(out / SHARD_DIR, ignore_errors=True)
    from nirvis.shards.card import card_files

    for path in card_files(out):  # the card of the data set being replaced
        path.unlink()
    for name in (MANIFEST, WIDS_INDEX, CONFIG_FILE):
        if (out / name).exists():
            (out / name).unlink()


def _existing_config_diff(out: Path, cfg: RenderDatasetConfig) -> Optional[list[str]]:
    """None if ``out`` holds no config; else the differences of its config from ``cfg``."""
    path = out / CONFIG_FILE
    if not path.exists():
        return None
    try:
        old = load_config(path).data_dict()
    except (ConfigError, OSError) as exc:
        return [f"its {CONFIG_FILE} is unreadable ({exc})"]
    return _diff(old, cfg.data_dict())


def _prepare_output(out: Path, cfg: RenderDatasetConfig, force: bool, env: DistEnv, timeout_s: float) -> None:
    if out.exists() and not out.is_dir():
        raise RenderDatasetError(f"{out}: exists and is not a directory")
    diff = _existing_config_diff(out, cfg) if out.is_dir() else None
    if diff and not force:
        more = f" (and {len(diff) - 3} more)" if len(diff) > 3 else ""
        raise RenderDatasetError(f"{out}: holds a data set rendered with a different config: {'; '.join(diff[:3])}"
                                 f"{more}; use --force to replace it")
    if env.rank == 0 and diff is None and out.is_dir() and any(out.iterdir()) and not force:
        raise RenderDatasetError(f"{out}: exists, is not empty and holds no {CONFIG_FILE} of a render-dataset "
                                 "output; use --force to render into it anyway")
    text = dump_yaml(cfg, header="effective config of `nirvis render-dataset` (readable with --config)").encode()
    if env.rank != 0:  # rank 0 prepares the directory; the others wait for its config
        deadline = time.monotonic() + timeout_s
        while True:
            path = out / CONFIG_FILE
            if path.is_file() and not _existing_config_diff(out, cfg):
                break
            if time.monotonic() > deadline:
                raise RenderDatasetError(f"{out}: rank 0 did not write a matching {CONFIG_FILE} within "
                                         f"{timeout_s:.0f} s")
            time.sleep(0.5)
        (out / SHARD_DIR).mkdir(exist_ok=True)
        return
    if force and diff != []:
        if out.is_dir():
            _wipe(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / SHARD_DIR).mkdir(exist_ok=True)
    path = out / CONFIG_FILE
    if not path.is_file() or path.read_bytes() != text:
        atomic_write_bytes(path, text)


def shard_complete(out: Path, plan: ShardPlan, fp: str, check_hash: bool = True) -> Optional[dict[str, Any]]:
    """The sidecar record of a complete, intact shard, else None."""
    tar = Path(out) / SHARD_DIR / plan.name
    side = sidecar_path(tar)
    if not tar.is_file() or not side.is_file():
        return None
    try:
        rec = read_json(side)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("fingerprint") != fp or rec.get("samples") != plan.count \
            or rec.get("shard") != plan.name or rec.get("bytes") != tar.stat().st_size:
        return None
    if check_hash and sha256_file(tar) != rec.get("sha256"):
        return None
    return rec


def _clean_temporaries(out: Path, plans: Sequence[ShardPlan]) -> None:
    """Remove leftovers of killed runs for ``plans`` (temporary shards; stale sidecars)."""
    for plan in plans:
        remove_stale_temporaries(out / SHARD_DIR / plan.name)  # also the sidecar's (.<name>.json.*.tmp)
        remove_stale_temporaries(dali_index_path(out / SHARD_DIR / plan.name))


# ------------------------------------------------------------------------------------- main


def effective_config(cfg: RenderDatasetConfig, env: Optional[DistEnv] = None) -> tuple[RenderDatasetConfig, str,
                                                                                        Optional[tuple[str, ...]]]:
    """Resolve ``cfg`` for this machine: (config with concrete backend and absolute identity source,
    torch device string, asset directories or None). Raises RenderDatasetError for user errors."""
    import torch

    from nirvis.render.raster import RasterBackendError, resolve_backend

    env = env or dist_env()
    if cfg.device == "cuda":
        if not torch.cuda.is_available():
            raise RenderDatasetError("--device cuda: no CUDA device is available")
        device = f"cuda:{env.local_rank}" if env.distributed else "cuda"
    else:
        device = "cpu"
    try:
        backend = resolve_backend(cfg.backend, device)
    except (RasterBackendError, ValueError) as exc:
        raise RenderDatasetError(f"field 'backend': {exc}") from None
    asset_dirs = None
    source = cfg.identity_source
    if source != "procedural":
        root = Path(source)
        if not root.is_dir():
            raise RenderDatasetError(f"field 'identity_source': {source} is neither 'procedural' nor a directory")
        found = sorted((d for d in root.iterdir() if d.is_dir() and (d / "asset.json").is_file()), key=lambda d: d.name)
        if not found:
            raise RenderDatasetError(f"field 'identity_source': {source} holds no face-asset directories "
                                     "(sub-directories with asset.json, as written by `nirvis identities`)")
        if cfg.identities > len(found):
            raise RenderDatasetError(f"field 'identities' is {cfg.identities} but {source} holds only {len(found)} "
                                     "face assets")
        asset_dirs = tuple(str(d.resolve()) for d in found[:cfg.identities])
        source = str(root.resolve())
    return cfg.replace(backend=backend, identity_source=source), device, asset_dirs


def render_dataset(config: RenderDatasetConfig, out: str | os.PathLike, *, force: bool = False,
                   progress: bool = True, wait_timeout_s: float = 86400.0, card: bool = True) -> dict[str, Any]:
    """Render ``config`` into WebDataset shards under ``out`` (resuming a previous run).

    Args:
        config: the data set (see ``RenderDatasetConfig``).
        out: output directory; created, or resumed when it holds the same config.
        force: replace an output that holds a different config (only render-dataset's own
            files are removed).
        progress: show a tqdm bar (pairs/s, ETA) on stderr.
        wait_timeout_s: under torchrun, how long rank 0 waits for the other ranks' shards (and
            the others for rank 0's config).
        card: rank 0 writes the data-set card (``shards.card``: README.md, stats.json, card/*.png)
            after the manifest; a card that cannot be written is reported in ``card_error``, the
            data set stays complete.

    Returns:
        Summary dict: out, shards, shards_rendered, shards_skipped, pairs, pairs_rendered,
        seconds, pairs_per_s, manifest (path or None on ranks != 0), rank, world_size, backend.

    Raises:
        RenderDatasetError: a user error (reported before anything is written).
        OutputLockedError: another render-dataset is writing ``out``.
    """
    t_start = time.perf_counter()
    env = dist_env()
    cfg, device, asset_dirs = effective_config(config, env)
    out = Path(out)
    if cfg.identity_source != "procedural":
        check_output_apart(out, [cfg.identity_source], "render-dataset --out")
    with output_lock(out, "render-dataset", tag=f"rank{env.rank}" if env.distributed else ""):
        summary = _render_locked(cfg, out, env, device, asset_dirs, force, progress, wait_timeout_s, t_start)
        if card and summary["manifest"]:
            from nirvis.shards.card import optional_card

            summary["card_error"] = optional_card(out)
        return summary


def _render_locked(cfg: RenderDatasetConfig, out: Path, env: DistEnv, device: str, asset_dirs: Optional[Sequence[str]],
                   force: bool, progress: bool, wait_timeout_s: float, t_start: float) -> dict[str, Any]:
    """``render_dataset`` once this process holds the output's lock."""
    from tqdm import tqdm

    _prepare_output(out, cfg, force, env, wait_timeout_s)
    source_digest = None if asset_dirs is None else identity_source_digest(asset_dirs)
    fp = _fingerprint(cfg, source_digest)
    job = _Job(config=cfg, out=str(out), device=device, asset_dirs=asset_dirs, fingerprint=fp)
    plans = plan_shards(cfg.identities, cfg.images_per_identity, cfg.shard_size)
    mine = [p for p in plans if p.index % env.world_size == env.rank]
    _clean_temporaries(out, mine)
    records: dict[int, dict[str, Any]] = {}
    todo = []
    for p in mine:
        rec = shard_complete(out, p, fp)
        if rec is None:
            todo.append(p)
        else:
            records[p.index] = rec
    if todo and env.rank == 0:  # the data set is being repaired: no manifest until it is whole again
        for name in (MANIFEST, WIDS_INDEX):
            if (out / name).exists():
                (out / name).unlink()
    pairs_todo = sum(p.count for p in todo)
    bar = tqdm(total=pairs_todo, unit="pair", desc=f"render-dataset{f' rank {env.rank}' if env.distributed else ''}",
               disable=not progress or pairs_todo == 0, dynamic_ncols=True, smoothing=0.1)
    t_render = time.perf_counter()

    def on_done(idx: int, rec: dict[str, Any]) -> None:
        records[idx] = rec
        bar.set_postfix_str(f"shards {len(records)}/{len(mine)}", refresh=False)

    clock = _SteadyRate()

    def on_pairs(n: int) -> None:
        clock.report(n)
        bar.update(n)

    try:
        _run_workers(job, todo, cfg.workers, on_pairs, on_done)
    finally:
        bar.close()
    render_s = time.perf_counter() - t_render
    manifest_path = None
    if env.rank == 0:
        others = [p for p in plans if p.index not in records]
        deadline = time.monotonic() + wait_timeout_s
        while others:
            waiting = []
            for p in others:
                rec = shard_complete(out, p, fp) if sidecar_path(out / SHARD_DIR / p.name).exists() else None
                if rec is None:
                    waiting.append(p)
                else:
                    records[p.index] = rec
            others = waiting
            if others:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{out}: timed out after {wait_timeout_s:.0f} s waiting for {len(others)} "
                                       f"shard(s) of other ranks (first: {others[0].name}); rerun to resume")
                time.sleep(2.0)
        manifest_path = out / MANIFEST
        manifest = build_manifest(cfg, plans, records, source_digest)
        manifest["indexes"] = write_indexes(out, manifest["shards"], dataset_name(fp))
        atomic_write_json(manifest_path, manifest)
    elapsed = time.perf_counter() - t_start
    rendered = sum(p.count for p in todo)
    return {
        "out": str(out), "shards": len(plans), "shards_mine": len(mine), "shards_rendered": len(todo),
        "shards_skipped": len(mine) - len(todo), "pairs": cfg.pairs, "pairs_rendered": rendered,
        "identities": cfg.identities, "images_per_identity": cfg.images_per_identity,
        "seconds": round(elapsed, 3), "render_seconds": round(render_s, 3),
        "pairs_per_s": round(rendered / render_s, 3) if rendered and render_s > 0 else 0.0,
        "steady_pairs_per_s": round(clock.pairs_per_s(), 3),
        "manifest": None if manifest_path is None else str(manifest_path), "rank": env.rank,
        "world_size": env.world_size, "backend": cfg.backend, "device": device, "workers": cfg.workers,
    }


def build_manifest(cfg: RenderDatasetConfig, plans: Sequence[ShardPlan], records: dict[int, dict],
                   source_digest: Optional[str] = None) -> dict[str, Any]:
    """The manifest document (no timestamps: the same config gives the same manifest bytes);
    ``source_digest``: ``identity_source_digest`` of a face-asset source (None: procedural)."""
    import cv2
    import torch

    from nirvis.render.pair import RENDERER_VERSION

    ext = ENCODINGS[cfg.encoding]
    extra = extra_members(ext, cfg.raw, cfg.passes, cfg.sample_space.pairing)
    s = cfg.resolution
    sample: dict[str, Any] = {"key": "<label:07d>_<index:04d>", "members": list(member_suffixes(ext) + extra),
                              "vis": [s, s, 3], "nir": [s, s]}
    if cfg.encoding != "png":  # PNG data sets keep the manifest they had before encodings existed
        sample["encoding"] = {"format": cfg.encoding, "quality": cfg.quality}
    if cfg.raw:
        r = cfg.sample_space.raw_resolution
        sample["raw"] = {"vis": [r, r, 3], "nir": [r, r]}
    if cfg.passes:
        sample["labels"] = label_record(cfg.passes)
    plain = cfg.encoding == "png" and not extra and s == CROP_SIZE
    return {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION if plain else FORMAT_VERSION_ENCODED,
        "config": cfg.data_dict(),
        "fingerprint": _fingerprint(cfg, source_digest),
        "identity_source": {"kind": "procedural"} if source_digest is None else
        {"kind": "assets", "path": cfg.identity_source, "sha256": source_digest},
        "versions": {"nirvis": __version__, "renderer": RENDERER_VERSION, "torch": torch.__version__,
                     "numpy": np.__version__, "opencv": cv2.__version__,
                     "python": ".".join(map(str, sys.version_info[:3]))},
        "renderer": {"backend": cfg.backend, "device": cfg.device, "version": RENDERER_VERSION},
        "counts": {"identities": cfg.identities, "images_per_identity": cfg.images_per_identity,
                   "pairs": cfg.pairs, "shards": len(plans)},
        "labels": {"first": 0, "last": cfg.identities - 1, "count": cfg.identities},
        "sample": sample,
        "shards": [{"name": f"{SHARD_DIR}/{p.name}", "samples": p.count, "first_key": records[p.index]["first_key"],
                    "last_key": records[p.index]["last_key"], "bytes": records[p.index]["bytes"],
                    "sha256": records[p.index]["sha256"]} for p in plans],
    }


def format_summary(s: dict[str, Any]) -> str:
    """The one-line summary printed at the end of ``nirvis render-dataset``."""
    where = f" (rank {s['rank']}/{s['world_size']})" if s["world_size"] > 1 else ""
    line = (f"render-dataset{where}: {s['pairs']} pairs ({s['identities']} identities x {s['images_per_identity']}) "
            f"in {s['shards']} shards -> {s['out']}; rendered {s['pairs_rendered']} pairs in {s['shards_rendered']} "
            f"shards, skipped {s['shards_skipped']} complete; {s['seconds']:.1f} s total, "
            f"{s['pairs_per_s']:.2f} pairs/s, {s.get('steady_pairs_per_s', 0.0):.2f} after start-up "
            f"({s['backend']} on {s['device']}, {s['workers']} worker(s))")
    if s["manifest"]:
        line += f"; manifest {s['manifest']}"
    if s.get("card_error") is None and "card_error" in s:
        line += "; card README.md, stats.json, card/*.png"
    return line
