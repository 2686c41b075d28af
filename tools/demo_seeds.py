#!/usr/bin/env python3
"""Train the demo model with several seeds, evaluate each, and report mean and spread (``make demo``).

One training run says little: on the demo's tiny data, a different training seed, or the same seed
on a CPU with other vector kernels (see README, "Reproducibility"), moves Rank-1 by many points.
This script trains ``len(--seeds)`` runs that differ only in ``run.seed`` (model init and batch
order; the data are fixed), evaluates every run on the same benchmarks, and prints each figure as
mean ± std over the seeds (std with ddof=1), next to the per-seed values.

    python tools/demo_seeds.py --data demo_out/dataset --out demo_out/seeds --seeds 1000,1001,1002 \\
        --threads 2 --synthetic demo_out/eval_set --casia demo_out/casia_raw --align-cache demo_out/align_cache

Writes ``OUT/seed_<S>/{run,eval_synthetic,eval_casia}/`` (the usual ``nirvis train`` / ``nirvis
eval`` outputs) and ``OUT/summary.json`` + ``OUT/summary.md``. Every step goes through the
``nirvis`` command line, so each run is exactly what ``nirvis train --set run.seed=S`` gives.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from nirvis.atomic import atomic_write_text

#: Metrics summarised per benchmark (keys of report.json's "summary"; values are fractions).
METRICS = ("rank1", "vr@0.01", "vr@0.001")


def _nirvis(argv: list[str]) -> float:
    """Run one ``nirvis`` command in this process; returns its wall time in seconds."""
    from nirvis.cli import main as nirvis_main

    print("+ nirvis " + " ".join(argv), flush=True)
    t0 = time.perf_counter()
    rc = nirvis_main(argv)
    if rc != 0:
        raise SystemExit(f"demo_seeds: 'nirvis {' '.join(argv)}' failed with exit code {rc}")
    return round(time.perf_counter() - t0, 1)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value) of a non-empty sequence."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    vals = [float(v) for v in values]
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def summarise(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Aggregate per-seed report summaries.

    Args:
        per_seed: {seed: {benchmark: report.json "summary" dict ({metric: {"mean", "std", "n"}})}};
            every seed must hold the same benchmarks.

    Returns:
        {benchmark: {metric: {"mean", "std" (over seeds, ddof=1), "per_seed" [per-seed fold means],
        "fold_std" [per-seed std over folds], "seeds" [seed list]}}}; values are fractions in [0, 1].
    """
    if not per_seed:
        raise ValueError("summarise needs at least one seed")
    seeds = sorted(per_seed)
    benchmarks = sorted(per_seed[seeds[0]])
    for s in seeds:
        if sorted(per_seed[s]) != benchmarks:
            raise ValueError(f"seed {s} has benchmarks {sorted(per_seed[s])}, seed {seeds[0]} has {benchmarks}")
    out: dict[str, dict[str, Any]] = {}
    for b in benchmarks:
        out[b] = {}
        for m in METRICS:
            if m not in per_seed[seeds[0]][b]:
                continue
            vals = [float(per_seed[s][b][m]["mean"]) for s in seeds]
            mean, std = mean_std(vals)
            out[b][m] = {"mean": mean, "std": std, "per_seed": vals, "seeds": seeds,
                         "fold_std": [float(per_seed[s][b][m]["std"]) for s in seeds]}
    return out


def format_summary(summary: dict[str, dict[str, Any]], labels: Optional[dict[str, str]] = None) -> str:
    """A Markdown table, one row per benchmark and metric: ``mean ± std`` over seeds in percent and
    the per-seed values."""
    labels = labels or {}
    lines = ["| benchmark | metric | mean ± std over seeds (%) | per seed (%) |", "|---|---|---|---|"]
    for b, metrics in summary.items():
        for m, v in metrics.items():
            per = ", ".join(f"{x * 100:.1f}" for x in v["per_seed"])
            lines.append(f"| {labels.get(b, b)} | {m} | {v['mean'] * 100:.1f} ± {v['std'] * 100:.1f} | {per} |")
    return "\n".join(lines)


def float_environment() -> dict[str, Any]:
    """What the training floats depend on besides code, data and seed (README, Reproducibility)."""
    import os
    import platform

    import torch


    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    env = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": cpu, "cores": os.cpu_count(),
            "env": {k: os.environ[k] for k in env if k in os.environ}}




def parse_seeds(spec: str) -> list[int]:
    """``"1000,1001,1002"`` -> [1000, 1001, 1002]; at least one, distinct, non-negative."""
    try:
        seeds = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"demo_seeds: --seeds must be comma-separated integers, got {spec!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SystemExit(f"demo_seeds: --seeds must name distinct non-negative integers, got {spec!r}")
    return seeds


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="training data set (render-dataset output)")
    ap.add_argument("--out", required=True, type=Path, help="output directory (an earlier output there is replaced)")
    ap.add_argument("--config", default="configs/train/tiny.yaml", help="training YAML (default: %(default)s)")
    ap.add_argument("--seeds", default="1000,1001,1002", help="training seeds, comma-separated (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=150, help="training steps per seed (default: %(default)s)")
    ap.add_argument("--synthetic", help="held-out render-dataset output for `nirvis eval synthetic`")
    ap.add_argument("--casia",
                    help="CASIA-layout root of raw frames (nirvis eval-fixture casia) for `eval casia --align`")
    ap.add_argument("--align-cache", help="alignment cache directory shared by the seeds (landmarks found once)")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch intra-op threads for training and evaluation (default: %(default)s). Fixed rather "
                         "than one per core: the thread count changes the training floats (README, Reproducibility)")
    args = ap.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    if not (args.synthetic or args.casia):
        ap.error("give --synthetic and/or --casia (the benchmarks to evaluate every seed on)")
    if args.steps < 1:
        ap.error("--steps must be >= 1")
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    import torch

    torch.set_num_threads(args.threads)

    if args.out.exists():
        if any(args.out.iterdir()) and not ((args.out / "summary.json").exists() or any(args.out.glob("seed_*"))):
            ap.error(f"--out {args.out} exists and is not an earlier demo_seeds output; refusing to replace it")
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    per_seed: dict[int, dict[str, dict[str, Any]]] = {}
    seconds: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    for seed in seeds:
        d = args.out / f"seed_{seed}"
        per_seed[seed], sec = {}, seconds.setdefault(str(seed), {})
        sec["train"] = _nirvis(["train", "--config", args.config, "--data", args.data, "--out", str(d / "run"),
                                "--steps", str(args.steps), "--set", f"run.seed={seed}", "--quiet"])
        if args.casia:
            cache = ["--align-cache", args.align_cache] if args.align_cache else []
            sec["eval_casia"] = _nirvis(["eval", "casia", "--root", args.casia, "--checkpoint", str(d / "run"),
                                         "--align", *cache, "--out", str(d / "eval_casia")])
            per_seed[seed]["casia_raw_align"] = json.loads((d / "eval_casia" / "report.json").read_text())["summary"]
        if args.synthetic:
            sec["eval_synthetic"] = _nirvis(["eval", "synthetic", "--root", args.synthetic, "--checkpoint",
                                             str(d / "run"), "--out", str(d / "eval_synthetic")])
            per_seed[seed]["synthetic"] = json.loads((d / "eval_synthetic" / "report.json").read_text())["summary"]
    summary = summarise(per_seed)
    labels = {"casia_raw_align": "CASIA layout of raw frames, --align", "synthetic": "synthetic held-out, NIR->VIS"}
    text = format_summary(summary, labels)
    elapsed = time.perf_counter() - t0
    doc = {"seeds": seeds, "steps": args.steps, "config": args.config, "data": args.data,
           "std": "sample standard deviation over seeds (ddof=1)", "seconds": round(elapsed, 1),
           "seconds_per_seed": seconds,
           "environment": float_environment(), "benchmarks": summary}
    atomic_write_text(args.out / "summary.json", json.dumps(doc, indent=1, allow_nan=False) + "\n")
    fenv = doc["environment"]
    md = (f"# Demo: {len(seeds)} training seeds ({', '.join(map(str, seeds))}), {args.steps} steps each\n\n"
          "mean ± std over seeds (ddof=1); per-seed values are each run's mean over its folds "
          f"(CASIA: 10 folds of 4 subjects; synthetic: one fold).\n\n{text}\n\n"
          f"Float environment: torch {fenv['torch']}, {fenv['torch_threads']} thread(s), "
          f"{fenv['cpu_capability']} kernels, {fenv['cpu']} ({fenv['cores']} cores)"
          + (f", {fenv['env']}" if fenv["env"] else "") + ".\n")
    atomic_write_text(args.out / "summary.md", md)
    print(f"\ndemo over {len(seeds)} training seeds ({elapsed:.0f} s; {args.out / 'summary.md'}):\n{text}\n"
          f"(torch {fenv['torch_threads']} thread(s), {fenv['cpu_capability']} kernels on {fenv['cpu']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
