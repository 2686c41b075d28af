"""The ``README.md`` of a data-set card (``shards.card``), from its ``stats.json`` document.

A Hugging Face style card (YAML front matter, then the sections of "Datasheets for Datasets",
Gebru et al. 2021: what it is, how it was made, composition, uses, limitations, licences), the
tables in Markdown and the plots linked by relative path. Only the statistics go in: no time,
path or host, so the same data set gives the same text.
"""

from __future__ import annotations

from typing import Any, Sequence

from nirvis.crop import CROP_SIZE

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"))
_UNITS = {"distance_mm": "mm", "focal_mm": "mm (35 mm equiv.)", "vis_blur_sigma_px": "px", "nir_blur_sigma_px": "px"}
_PLOT_CAPTIONS = {
    "pose.png": "Head pose (yaw, pitch, roll) of every pair",
    "skin_tone.png": "Skin tone of the identities as ITA, with the Chardon et al. categories",
    "identities.png": "Sex, dominant ancestry component and age of the identities",
    "attributes.png": "Expression, accessories, lighting environment, background, hair style and facial hair",
    "examples.png": "Example pairs (the first pair of the first identities), VIS | NIR",
}


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f} %"


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def _share_table(block: dict[str, Any], what: str) -> list[str]:
    return _table([(k, v, _pct(block["shares"][k])) for k, v in block["counts"].items()], [what, "count", "share"])


def _summary_row(name: str, s: dict[str, float], unit: str) -> tuple:
    if not s:
        return (name, unit, "not recorded", "", "", "", "")
    return (name, unit, *(f"{s[k]:.4g}" for k in ("min", "median", "mean", "max", "std")))


def _biases(st: dict[str, Any]) -> list[str]:
    """Plain statements of what the statistics show to be skewed or missing."""
    out = []
    n = st["dataset"]["identities"]
    cats = st["skin_tone"]["categories"]
    recorded = {k: v for k, v in cats["counts"].items() if k != "not recorded"}
    if recorded and sum(recorded.values()):
        top = max(recorded, key=lambda k: recorded[k])
        empty = [k for k, v in recorded.items() if v == 0]
        out.append(f"Skin tone: the largest ITA category is *{top}* ({_pct(cats['shares'][top])} of the "
                   f"identities)" + (f"; no identity is *{'*, *'.join(empty)}*." if empty else
                                     "; every category has identities."))
    if cats["counts"].get("not recorded"):
        out.append(f"Skin tone: {cats['counts']['not recorded']} of {n} identities record no skin parameters "
                   "(imported assets?); they are left out of the ITA statistics.")
    for key, what in (("sex", "Sex"), ("ancestry", "Dominant ancestry component")):
        sh = st["identities"][key]["shares"]
        if sh:
            out.append(f"{what}: " + ", ".join(f"{k} {_pct(v)}" for k, v in sh.items()) + ".")
    age = st["identities"]["age_years"]
    if age.get("min") is not None:
        out.append(f"Age: {age['min']:.0f} to {age['max']:.0f} years (median {age['median']:.0f}).")
    yaw = st["pose"]["vis"]["yaw_deg"]
    if yaw.get("min") is not None:
        out.append(f"Pose: VIS yaw spans {yaw['min']:+.0f} to {yaw['max']:+.0f} degrees (sd {yaw['std']:.1f}); "
                   "profiles beyond that are absent.")
    neutral = st["expression"]["vis"]["shares"].get("neutral")
    if neutral is not None:
        out.append(f"Expression: {_pct(neutral)} of the VIS views are neutral.")
    return out


def readme(st: dict[str, Any], plots: Sequence[str], mark: str) -> str:
    """The card's Markdown; ``plots``: the plot files (relative paths), ``mark``: its first line."""
    d = st["dataset"]
    v, r = d.get("versions", {}), d.get("renderer", {})
    enc = d.get("encoding") or {"format": "png"}
    enc_text = enc.get("format", "png") + (f", quality {enc['quality']}" if "quality" in enc else " (lossless)")
    fp = str(d.get("fingerprint") or "")
    crop = d.get("crop") or [CROP_SIZE, CROP_SIZE]
    raw = d.get("raw")
    passes = d.get("label_passes") or []
    size = next((c for lim, c in _SIZE_CATEGORIES if d["pairs"] < lim), "n>10M")
    L: list[str] = ["---", mark, f"pretty_name: nirvis synthetic NIR-VIS faces {fp[:12]}", "license: other",
                    "license_name: nirvis-rendered (assets CC0-1.0, code Apache-2.0; see Licences)",
                    "task_categories:", "- image-feature-extraction", "tags:", "- synthetic", "- face-recognition",
                    "- near-infrared", "- nir-vis", "- webdataset", "size_categories:", f"- {size}", "---", ""]
    L += [f"# nirvis synthetic NIR-VIS face pairs (`{fp[:12]}`)", "",
          f"{d['pairs']} aligned pairs of a visible-light (VIS, 8-bit RGB) and a near-infrared (NIR, 8-bit grey) "
          f"face image, {crop[0]} x {crop[1]} pixels, of {d['identities']} synthetic identities "
          f"({d['pairs_per_identity']} "
          f"pairs per identity), rendered by nirvis into {d['shards']} WebDataset tar shards. Every identity is "
          "procedural: no image of a real person was used to make it.", ""]
    L += ["## Summary", ""] + _table([
        ("identities", d["identities"]), ("pairs", d["pairs"]), ("pairs per identity", d["pairs_per_identity"]),
        ("shards", d["shards"]), ("bytes (shards)", f"{d['bytes']:,}"), ("image encoding", enc_text),
        ("aligned crop", f"{crop[0]} x {crop[1]} (ArcFace template scaled)"),
        ("raw camera frames", f"{raw[0]} x {raw[1]}" if raw else "not stored"),
        ("label passes", ", ".join(passes) + " (lossless PNG, pixel-aligned)" if passes else "none"),
        ("VIS / NIR pairing", ", ".join(f"{k} {_pct(s)}" for k, s in d["pairing"]["shares"].items())),
        ("identity source", d.get("identity_source")), ("seed", d.get("seed")),
        ("nirvis version", v.get("nirvis")), ("renderer version", r.get("version", v.get("renderer"))),
        ("rasteriser backend", r.get("backend")), ("config fingerprint", f"`{fp}`")], ["", "value"])
    L += ["## How it was made", "",
          "`config.yaml` beside this card is the effective config; rerunning", "",
          "```", "nirvis render-dataset --config config.yaml --out DIR", "```", "",
          "gives the same shards byte for byte (for any `--workers` / `--batch-size`; the versions of torch, "
          "numpy and OpenCV are in `manifest.json`). Each identity is sampled from a seed (head shape of a "
          "MakeHuman-based model, biophysical skin, hair, eyes, make-up); each pair samples pose, expression, "
          "lighting, background, accessories and camera/sensor from its own seed, renders the VIS image under "
          "an HDR environment or synthetic lights and the NIR image under an active LED, and aligns both to the "
          f"5-point ArcFace template of the {crop[0]} x {crop[1]} crop. Per-sample metadata (all sampled parameters, "
          "landmarks) is the "
          "`<key>.json` member; `nirvis verify DIR` checks the shards against `manifest.json`.", ""]
    if d.get("sample_space"):
        L += ["Sampling probabilities of the config:", ""] + _table(sorted(d["sample_space"].items()),
                                                                    ["field", "value"])
    L += ["## Composition", "", "### Identities", ""]
    L += _share_table(st["identities"]["sex"], "sex") + _share_table(st["identities"]["ancestry"],
                                                                      "dominant ancestry component")
    sk = st["skin_tone"]
    L += ["### Skin tone (ITA)", "",
          "The individual typology angle ITA = atan((L* - 50) / b*) of each identity's base skin colour: its "
          "recorded skin parameters (melanin, eumelanin share, blood, oxygen saturation, epidermis thickness) "
          "through nirvis' skin model to linear sRGB under D65 and CIE L*a*b*. It is the skin before freckles, "
          "redness, make-up, lighting and camera, not measured from the images. Categories: very light > 55, "
          "light 41-55, intermediate 28-41, tan 10-28, brown -30-10, dark < -30 degrees (Chardon et al. 1991, "
          "Del Bino et al. 2006).", ""]
    L += _table([(k, c, _pct(sk["categories"]["shares"][k])) for k, c in sk["categories"]["counts"].items()],
                ["ITA category", "identities", "share"])
    L += ["### Pairs", ""]
    ex = st["expression"]
    for view in ex:
        L += [f"Expression ({view.upper()}):", ""] + _share_table(ex[view], "expression")
    L += _share_table(st["accessories"]["glasses"], "glasses") + _share_table(st["accessories"]["headwear"],
                                                                               "headwear")
    L += (_share_table(st["lighting"]["led_nm"], "NIR LED (nm)") + _share_table(st["lighting"]["environment"],
                                                                                  "VIS lighting environment")
          + _share_table(st["lighting"]["background"], "VIS background"))
    L += _share_table(st["identities"]["hair_style"], "hair style (identities)")
    L += _share_table(st["identities"]["facial_hair"], "facial hair (identities)")
    pose = st["pose"]
    rows = [_summary_row(f"{view.upper()} {k[:-4]}", {x: pose[view][k][x] for x in pose[view][k] if x != "histogram"},
                         "degrees") for view in pose["views"] for k in ("yaw_deg", "pitch_deg", "roll_deg")]
    rows += [_summary_row(k, s, _UNITS.get(k, "")) for k, s in st["camera"].items()]
    L += [("VIS and NIR share the pose and expression of every pair (pixel-aligned)." if pose["nir_same_as_vis"]
           else "VIS and NIR views differ (pairing independent): both are listed."), ""]
    L += _table(rows, ["pose / camera / sensor", "unit", "min", "median", "mean", "max", "sd"])
    L += ["`distance_mm` / `focal_mm`: the VIS camera's; `*_jpeg_quality`: the simulated camera's JPEG "
          "compression (before alignment), not the shards' encoding; exposure, gain and LED intensity are "
          "relative (1 = nominal).", ""]
    if plots:
        L += ["## Plots", ""]
        for p in plots:
            name = p.rsplit("/", 1)[-1]
            L += [f"![{_PLOT_CAPTIONS.get(name, name)}]({p})", "", f"*{_PLOT_CAPTIONS.get(name, name)}.*", ""]
    L += ["## Uses", "",
          "Intended: research on NIR-VIS heterogeneous face recognition: training and ablating recognisers, "
          "domain adaptation between the spectra, and measuring how pose, expression, accessories, lighting "
          "and skin tone affect them, with every factor known per sample.", "",
          "Out of scope: identifying or verifying real people from a model trained on this data alone without "
          "evaluation on real data; any claim about real populations (the identities are synthetic, their "
          "attributes are sampled, not measured).", ""]
    L += ["## Limitations and biases", "",
          "- The identities are synthetic: one parametric head model (MakeHuman / MPFB2 based), procedural "
          "textures, hair and accessories; real faces vary in ways the model does not (scars, tattoos, "
          "rare shapes, hair styles outside its list). Recognisers may learn the renderer's traits.",
          "- Sex, age and ancestry are sampling parameters of the model, not self-reported or perceived "
          "attributes; the ancestry components are the model's three (african, asian, caucasian).",
          "- The NIR images come from a spectral skin model and a simulated LED-lit camera; real NIR sensors, "
          "filters and ambient infrared differ."]
    L += [f"- {b}" for b in _biases(st)] + [""]
    L += ["## Licences", "",
          "The assets the renderer uses are listed with source and licence in `nirvis/assets/LICENSES.md`: the "
          "head model (MPFB2 / MakeHuman base mesh and targets) and the HDR environments are CC0 1.0; nirvis' "
          "code is Apache-2.0. The rendered images are derived from these and from procedural textures only; "
          "choose the data set's licence with that in mind.", ""]
    members = ", ".join(f"`<key>.{m}`" for m in d.get("members") or ["vis.<ext>", "nir.<ext>", "json"])
    L += ["## Files", "", f"- `shards/shard-NNNNNN.tar`: WebDataset shards, members {members}; `manifest.json`, "
          "`config.yaml`, `wids-index.json`, `shards/*.idx` (DALI)"]
    if passes:
        L += ["- label passes (nirvis `shards.members`): `seg` 8-bit class ids (the classes are listed in each "
              "sample's JSON under `labels`), `depth` 16-bit in 0.1 mm along the optical axis, `normal` 8-bit "
              "RGB (n + 1) / 2 of camera-space normals; 0 is background in all three"]
    L += ["- `stats.json`: every number of this card (histogram edges and counts, shares), rewritten by "
          "`nirvis stats DIR`", ""]
    return "\n".join(L)
