"""The data-set card (``nirvis stats DIR``; written by render-dataset too): its numbers are the
samples' own, it links its plots, the same data set gives the same bytes, a bad DIR writes nothing."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from nirvis.colour import ita_category, ita_degrees, linear_srgb_to_lab
from nirvis.shards.card import README_MARK, expression_kind, histogram
from nirvis.shards.reader import iter_pairs
from shards_helpers import cli, copy_dataset

pytestmark = pytest.mark.slow  # needs the rendered fixture

CARD = sorted(["README.md", "stats.json", "card/attributes.png", "card/examples.png", "card/identities.png",
        "card/pose.png", "card/skin_tone.png"])


def _card_files(root):
    return sorted(p.relative_to(root).as_posix() for p in [root / "README.md", root / "stats.json",
                                                           *sorted((root / "card").glob("*"))] if p.exists())


def _card_bytes(root):
    return {name: (root / name).read_bytes() for name in _card_files(root)}


def _strip_card(root):
    for name in _card_files(root):
        (root / name).unlink()
    (root / "card").rmdir()


def test_render_dataset_writes_the_card_and_verify_accepts_it(reference, capsys):
    assert _card_files(reference) == CARD
    assert (reference / "README.md").read_text().splitlines()[:2] == ["---", README_MARK]  # front matter first
    assert cli(["verify", reference]) == 0
    assert "ok: 3 shards, 6 pairs" in capsys.readouterr().out


def test_counts_are_the_samples_own(reference):
    stats = json.loads((reference / "stats.json").read_text())
    metas = [s.meta for s in iter_pairs(reference, decode=False)]
    pairs, labels = len(metas), {m["label"] for m in metas}
    d = stats["dataset"]
    assert (d["pairs"], d["identities"], d["pairs_per_identity"], d["shards"]) == (pairs, len(labels), 2, 3)
    manifest = json.loads((reference / "manifest.json").read_text())
    assert d["bytes"] == sum(s["bytes"] for s in manifest["shards"]) and d["fingerprint"] == manifest["fingerprint"]
    glasses = sum(m["accessories"]["glasses"]["enabled"] for m in metas)
    assert stats["accessories"]["glasses"]["counts"] == {"no": pairs - glasses, "yes": glasses}
    assert stats["accessories"]["headwear"]["counts"] == dict(Counter(m["accessories"]["headwear"]["kind"]
                                                                      for m in metas))
    assert stats["lighting"]["led_nm"]["counts"] == {str(k): v for k, v in Counter(m["led_nm"] for m in metas).items()}
    neutral = sum(not m["expression"]["vis"] for m in metas)
    assert stats["expression"]["vis"]["counts"].get("neutral", 0) == neutral
    assert sum(stats["expression"]["vis"]["counts"].values()) == pairs
    first = {m["label"]: m["identity"] for m in reversed(metas)}
    assert stats["identities"]["sex"]["counts"] == dict(Counter(r["sex"] for r in first.values()))
    assert stats["identities"]["hair_style"]["counts"] == dict(Counter(r["appearance"]["hair"]["style"]
                                                                       for r in first.values()))
    # every histogram holds every pair (identity: every identity), on edges one bin apart
    for view in stats["pose"]["views"]:
        for angle in ("yaw_deg", "pitch_deg", "roll_deg"):
            h = stats["pose"][view][angle]["histogram"]
            assert sum(h["counts"]) == pairs and len(h["edges"]) == len(h["counts"]) + 1
            values = [m["pose"][view][angle] for m in metas]
            assert h["edges"][0] <= min(values) and max(values) <= h["edges"][-1]
            assert stats["pose"][view][angle]["mean"] == pytest.approx(np.mean(values), abs=1e-4)
    assert stats["pose"]["nir_same_as_vis"] == all(m["pose"]["vis"] == m["pose"]["nir"] for m in metas)
    ita = stats["skin_tone"]
    assert sum(ita["categories"]["counts"].values()) == len(labels)
    assert sum(ita["ita_deg"]["histogram"]["counts"]) == len(labels)
    assert sum(stats["identities"]["age_years"]["histogram"]["counts"]) == len(labels)
    assert set(ita["categories"]["counts"]) == {"very light", "light", "intermediate", "tan", "brown", "dark"}


def test_readme_states_the_numbers_and_links_every_plot(reference):
    text = (reference / "README.md").read_text()
    assert "| identities | 3 |" in text and "| pairs | 6 |" in text and "6 aligned pairs" in text
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(linked) == sorted(n for n in CARD if n.endswith(".png"))
    assert all((reference / p).is_file() for p in linked)
    for section in ("## How it was made", "## Uses", "## Limitations and biases", "## Licences", "CC0"):
        assert section in text


def test_the_card_is_byte_deterministic(reference, tmp_path, capsys):
    """`nirvis stats` on a copy elsewhere (twice) writes the bytes render-dataset wrote."""
    out = copy_dataset(reference, tmp_path / "elsewhere")
    _strip_card(out)
    assert cli(["stats", out]) == 0
    assert "3 identities, 6 pairs" in capsys.readouterr().out
    assert _card_bytes(out) == _card_bytes(reference)
    assert cli(["stats", out]) == 0
    assert _card_bytes(out) == _card_bytes(reference)
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".partial"))]


@pytest.mark.parametrize("damage", ["missing", "no_manifest", "corrupted_shard", "foreign_readme"])
def test_a_bad_dir_is_exit_2_naming_it_and_nothing_is_written(reference, tmp_path, capsys, damage):
    out = tmp_path / "ds"
    if damage != "missing":
        copy_dataset(reference, out)
        _strip_card(out)
    if damage == "no_manifest":
        (out / "manifest.json").unlink()
    elif damage == "corrupted_shard":
        shard = out / "shards" / "shard-000001.tar"
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0x01
        shard.write_bytes(bytes(data))
    elif damage == "foreign_readme":
        (out / "README.md").write_text("my own notes\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) if out.exists() else []
    assert cli(["stats", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nirvis stats: error: ") and str(out) in err[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    if damage == "foreign_readme":
        assert (out / "README.md").read_text() == "my own notes\n"


def test_no_card_then_stats_without_examples(reference, tiny_yaml, tmp_path):
    out = copy_dataset(reference, tmp_path / "c")
    _strip_card(out)
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet", "--no-card"]) == 0
    assert _card_files(out) == []
    assert cli(["stats", out, "--examples", "0"]) == 0
    assert "card/examples.png" not in _card_files(out) and "examples.png" not in (out / "README.md").read_text()


def test_a_foreign_readme_survives_render_dataset_and_force(reference, tiny_yaml, tmp_path, capsys):
    """render-dataset keeps a README.md it did not write (a warning, exit 0, the data set complete);
    --force with another config removes the old card but not that README.md."""
    out = copy_dataset(reference, tmp_path / "c")
    (out / "README.md").write_text("my own notes\n")
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet"]) == 0
    assert "card was not written" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "my own notes\n" and (out / "manifest.json").is_file()
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet", "--no-card", "--force",
                "--images-per-identity", "1"]) == 0
    assert _card_files(out) == ["README.md"] and (out / "README.md").read_text() == "my own notes\n"


def test_helpers():
    h = histogram([-7.0, 0.0, 4.9, 5.0], 5.0)
    assert h == {"edges": [-10.0, -5.0, 0.0, 5.0], "counts": [1, 0, 3]}
    assert expression_kind({}) == "neutral" and expression_kind({"eyeBlinkLeft": 0.3, "eyeBlinkRight": 0.3}) \
        == "half_blink"
    assert expression_kind({"mouthSmileLeft": 0.5, "cheekSquintLeft": 0.3, "jawOpen": 0.2}) == "open_smile"
    assert [round(float(x), 1) for x in linear_srgb_to_lab(np.array([1.0, 0.0, 0.0]))] == [53.2, 80.1, 67.2]
    assert [ita_category(x) for x in (55.01, 41.01, 41.0, 10.0, -30.0, -30.01)] == \
        ["very light", "light", "intermediate", "brown", "dark", "dark"]  # a bound is the darker class
    assert round(float(ita_degrees(np.array([50.0 + 3 ** 0.5, 0.0, 1.0]))), 6) == 60.0


def test_independent_pairing_gets_nir_histograms(tiny_yaml, tmp_path):
    """With pairing: independent the VIS and NIR views differ: both get pose histograms and
    expression shares (each summing to the pairs), and the README lists the NIR rows."""
    cfg = tmp_path / "independent.yaml"
    cfg.write_text(tiny_yaml.read_text().replace("sample_space:\n", "sample_space:\n  pairing: independent\n"))
    out = tmp_path / "ds"
    assert cli(["render-dataset", "--config", cfg, "--out", out, "--quiet", "--identities", "2"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    metas = [s.meta for s in iter_pairs(out, decode=False)]
    assert stats["pose"]["views"] == ["vis", "nir"] and not stats["pose"]["nir_same_as_vis"]
    for view in ("vis", "nir"):
        assert sum(stats["expression"][view]["counts"].values()) == len(metas) == 4
        for angle in ("yaw_deg", "pitch_deg", "roll_deg"):
            assert sum(stats["pose"][view][angle]["histogram"]["counts"]) == 4
            assert stats["pose"][view][angle]["mean"] == pytest.approx(np.mean([m["pose"][view][angle]
                                                                               for m in metas]), abs=1e-4)
    text = (out / "README.md").read_text()
    assert "| NIR yaw |" in text and "Expression (NIR):" in text
