"""``nirvis eval BENCHMARK --root DATA_ROOT --checkpoint CKPT --out DIR``.

Connect to the main parser with ``register(subparsers)``; ``main(argv)`` runs it standalone
(``python -m nirvis.evaluate.cli``). Exit codes: 0 done, 2 user error (bad arguments, missing
data, no checkpoint loader), reported by ``nirvis.errors.run_command``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

from nirvis.errors import UsageError, run_command
from nirvis.evaluate.benchmarks import BENCHMARKS


def load_model(checkpoint: str, device: str, backbone: Optional[str] = None) -> Callable:
    """The embedding model_fn of a checkpoint (a trainer run, or a weights file such as the
    reference's ``*.pth.tar``; ``backbone`` names a weights file's architecture, else inferred),
    through ``nirvis.train.checkpoint.load_embedding_model``. Classifier weights the file carries
    are left out with a note on stderr."""
    try:
        from nirvis.train.checkpoint import load_embedding_model
    except ImportError as exc:
        raise UsageError("cannot load checkpoints: nirvis.train.checkpoint.load_embedding_model is not available "
                        f"in this build ({exc}); the evaluation API (nirvis.evaluate.run.evaluate_benchmark) takes "
                        "any model_fn") from None
    model_fn = load_embedding_model(checkpoint, device=device, **({"backbone": backbone} if backbone else {}))
    info = getattr(model_fn, "info", None) or {}
    if info.get("ignored"):
        print(f"nirvis eval: note: {checkpoint}: ignored the classifier {', '.join(info['ignored'])} (not part of "
              f"the {info.get('backbone', 'backbone')} backbone; only the embedding is evaluated)", file=sys.stderr)
    return model_fn


#: Loader options of ``nirvis eval``: (argparse dest, loader keyword, benchmarks it applies to).
LOADER_OPTIONS = (("subjects", "subjects", ("oulu", "buaa")), ("eye_dir", "eye_dir", ("casia",)),
                  ("image_root", "image_root", ("casia", "lamp_hq")), ("image_ext", "image_ext", ("casia", "lamp_hq")),
                  ("bin_set", "set", ("vis_bin",)))


def _loader_kwargs(args: argparse.Namespace) -> dict:
    """The loader keywords of the given options; an option given for a benchmark it does not
    apply to is a UsageError naming both."""
    from nirvis.evaluate.benchmarks import canonical

    name = canonical(args.benchmark)
    out = {}
    for dest, key, applies in LOADER_OPTIONS:
        value = getattr(args, dest)
        if not value:
            continue
        if name not in applies:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} applies to {' and '.join(a.replace('_', '-') for a in applies)}, "
                            f"not {args.benchmark}")
        out[key] = _subjects(value) if dest == "subjects" else value
    return out


def _subjects(spec: str) -> list[str]:
    """``--subjects A,B`` or ``--subjects @file`` (one name per line) -> subject folder names."""
    if spec.startswith("@"):
        from pathlib import Path

        path = Path(spec[1:])
        if not path.is_file():
            raise UsageError(f"--subjects: file {path} not found")
        names = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError("--subjects: no subject names given")
    return names


def cmd_eval(args: argparse.Namespace) -> int:
    from nirvis.evaluate.run import evaluate_benchmark

    loader_kwargs = _loader_kwargs(args)  # option mistakes are reported before the model loads
    model_fn = load_model(args.checkpoint, args.device, args.backbone)
    res = evaluate_benchmark(args.benchmark, args.root, model_fn, folds=args.folds, protocol=args.protocol,
                             aligned=args.aligned, align_fallback=args.align_fallback,
                             align_cache=None if args.no_align_cache else (args.align_cache or "default"),
                             allow_missing=args.allow_missing,
                             save_scores=args.save_scores, out_dir=args.out, batch_size=args.batch_size,
                             flip=not args.no_flip, device=args.device, vr_rule=args.vr_rule,
                             **loader_kwargs)
    summ = res["summary"]
    shown = ", ".join(f"{k} {v['mean'] * 100:.2f}" + (f" ± {v['std'] * 100:.2f}" if v["n"] > 1 else "")
                      for k, v in summ.items() if k in ("rank1", "accuracy") or k.startswith("vr@"))
    print(f"eval {res['benchmark']} ({res['protocol']}, {len(res['folds'])} fold(s)): {shown}; report in {args.out}")
    return 0


def cmd_eval_fixture(args: argparse.Namespace) -> int:
    """Write a tiny data set in a benchmark's native layout (to try ``nirvis eval`` without data)."""
    import json

    from nirvis.atomic import staged_dir
    from nirvis.evaluate import fixtures as F

    out = args.out
    writers = {"casia": F.write_casia, "lamp-hq": F.write_lamp_hq, "oulu": F.write_oulu, "buaa": F.write_buaa}
    with staged_dir(out, force=args.force) as tmp:
        counts = writers[args.benchmark](tmp, images=args.images)
        (tmp / "fixture.json").write_text(json.dumps({"benchmark": args.benchmark, "images": args.images,
                                                      "counts": counts}, indent=1, default=str) + "\n")
    extra = " --align" if args.images == "raw_faces" else ""
    sub = f" --protocol zeroshot --subjects {','.join(counts['subjects'])}" if args.benchmark == "oulu" else ""
    print(f"eval-fixture {args.benchmark} ({args.images}) written to {out}; try: nirvis eval {args.benchmark} "
          f"--root {out} --checkpoint RUN{extra}{sub} --out EVAL_DIR")
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    """Align a tree of raw images into 112x112 ArcFace crops with the same relative paths."""
    from nirvis.evaluate.align import align_tree, default_cache_dir

    cache = None if args.no_align_cache else (args.align_cache or default_cache_dir("tree", args.src))
    s = align_tree(args.src, args.out, fallback=args.fallback, cache_dir=cache, progress=not args.quiet)
    parts = []
    for group, c in s["by_modality"].items():
        found = c["detected"] + c["enhanced"] + c["padded"]
        parts.append(f"{group}: {found}/{c['images']} faces found ({c['enhanced']} after CLAHE, {c['padded']} after "
                     f"padding), {c['no_face_total']} without")
    print(f"align: {s['written']} crops -> {args.out} ({'; '.join(parts)}; {len(s['unreadable'])} unreadable; "
          f"no-face policy {args.fallback}); landmarks in alignment.tsv")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    a = subparsers.add_parser("align", help="align a tree of raw face images into 112x112 ArcFace crops "
                                           "(same relative paths, .png)")
    a.add_argument("src", help="directory of raw images (searched recursively)")
    a.add_argument("--out", required=True, help="output directory (must not exist; appears when complete)")
    a.add_argument("--fallback", default="center", choices=["center", "drop", "error"],
                   help="images with no face found: central square (default), leave out, or stop")
    a.add_argument("--align-cache", metavar="DIR", help="crop cache (default ~/.cache/nirvis/aligned/tree-<hash>)")
    a.add_argument("--no-align-cache", action="store_true", help="do not read or write the crop cache")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_align)

    f = subparsers.add_parser("eval-fixture", help="write a tiny data set in a benchmark's native layout "
                                                  "(rendered faces) to try nirvis eval")
    f.add_argument("benchmark", choices=["casia", "lamp-hq", "oulu", "buaa"])
    f.add_argument("--images", default="raw_faces", choices=["pattern", "faces", "raw_faces"],
                   help="raw_faces (default): raw 320x240 frames of rendered faces (use --align); faces: aligned "
                        "112x112 renders; pattern: synthetic patterns")
    f.add_argument("--out", required=True, help="output directory (written atomically)")
    f.add_argument("--force", action="store_true", help="replace an existing output directory")
    f.set_defaults(func=cmd_eval_fixture)

    p = subparsers.add_parser("eval", help="evaluate a checkpoint on a NIR-VIS (or VIS .bin) benchmark")
    p.add_argument("benchmark", choices=sorted(set(BENCHMARKS) | {b.replace("_", "-") for b in BENCHMARKS}),
                   help="benchmark name (- and _ are interchangeable)")
    p.add_argument("--bin-set", choices=["lfw", "cfp_fp", "agedb_30"],
                   help="vis-bin: which ROOT/<name>.bin to evaluate (default lfw)")
    p.add_argument("--root", required=True, help="data set root in its native layout")
    p.add_argument("--checkpoint", required=True,
                   help="a `nirvis train` run directory (or step directory / model.safetensors), or a weights file: "
                        "the reference's *.pth.tar ({'epoch', 'state_dict'} with DataParallel 'module.' keys, "
                        "pre-trained or fine-tuned; classifier weights are ignored), an arcface_torch backbone.pth, "
                        "a safetensors state dict; read without running code (torch weights_only)")
    p.add_argument("--backbone", choices=["lightcnn29", "iresnet18", "iresnet50", "iresnet100", "mobilefacenet"],
                   help="architecture of a weights file (default: inferred from its keys)")
    p.add_argument("--folds", default="all", help="'all' (default), '1,2', or 'dev' (CASIA)")
    p.add_argument("--protocol", choices=["finetune", "zeroshot"], help="Oulu-CASIA test set (default finetune)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--aligned", dest="aligned", action="store_true", default=True,
                   help="images are aligned 112x112 crops (default)")
    g.add_argument("--align", dest="aligned", action="store_false",
                   help="detect faces in raw images, take 5 landmarks and warp to the ArcFace crop (mediapipe)")
    p.add_argument("--align-fallback", default="center", choices=["center", "drop", "error"],
                   help="--align: images with no face found: resize the central square (default), leave them "
                        "out, or stop; all are listed in the report")
    p.add_argument("--align-cache", metavar="DIR",
                   help="--align: crop cache (default ~/.cache/nirvis/aligned/<benchmark>-<root hash>)")
    p.add_argument("--no-align-cache", action="store_true", help="--align: do not read or write the crop cache")
    p.add_argument("--eye-dir", metavar="DIR",
                   help="--align, CASIA: the .pos eye annotations (default ROOT/annotations, or next to each image), "
                        "used where no face is detected")
    p.add_argument("--image-root", metavar="DIR",
                   help="CASIA / LAMP-HQ: read the listed images from this tree instead of ROOT (e.g. the output of "
                        "`nirvis align`)")
    p.add_argument("--image-ext", metavar=".EXT", help="CASIA / LAMP-HQ: replace each listed file's extension "
                                                       "(e.g. .png for `nirvis align` output)")
    p.add_argument("--subjects", metavar="A,B,...|@FILE",
                   help="Oulu / BUAA: the test subjects' folder names (an official split), comma-separated or "
                        "one per line in FILE")
    p.add_argument("--allow-missing", action="store_true", help="evaluate what exists; record missing files")
    p.add_argument("--save-scores", action="store_true", help="save each fold's score matrix (.npz)")
    p.add_argument("--vr-rule", default="interpolated", choices=["interpolated", "nearest"],
                   help="VR@FAR rule shown in the report (both are stored)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-flip", action="store_true", help="no flip augmentation of features")
    p.add_argument("--device", default="cpu", help="torch device of the model (default cpu)")
    p.add_argument("--out", required=True, help="output directory for report.json/.md and plots")
    p.set_defaults(func=cmd_eval)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nirvis")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
