"""render-dataset end to end: determinism across workers, ranks and kill -9 + resume; refusal
of foreign or differently configured output directories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from shards_helpers import cli, cli_command, copy_dataset, run_cli, shard_bytes

pytestmark = pytest.mark.slow


def test_reference_layout(reference):
    names = sorted(p.name for p in (reference / "shards").iterdir())
    assert names == sorted(f"shard-{j:06d}{ext}" for j in range(3) for ext in (".idx", ".tar", ".tar.json"))
    assert (reference / "wids-index.json").is_file()
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["counts"] == {"identities": 3, "images_per_identity": 2, "pairs": 6, "shards": 3}
    assert manifest["labels"]["first"] == 0 and manifest["labels"]["last"] == 2
    assert [s["samples"] for s in manifest["shards"]] == [2, 2, 2]
    assert set(manifest["versions"]) >= {"nirvis", "torch", "renderer"}
    assert (reference / "config.yaml").is_file()
    assert not [p for p in reference.rglob("*") if p.name.endswith(".tmp")]


def test_two_workers_give_identical_shards(reference, tiny_yaml, tmp_path):
    out = tmp_path / "w2"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--workers", "2", "--quiet"]) == 0
    assert shard_bytes(out) == shard_bytes(reference)
    assert (out / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()
    # the index files too (DALI's per shard, the wids index)
    idx = sorted(p.name for p in (reference / "shards").glob("*.idx"))
    assert len(idx) == 3
    for name in idx:
        assert (out / "shards" / name).read_bytes() == (reference / "shards" / name).read_bytes()
    assert (out / "wids-index.json").read_bytes() == (reference / "wids-index.json").read_bytes()


def test_batch_size_changes_no_byte(reference, tiny_yaml, tmp_path):
    """batch_size is execution only: another value gives the same shards and manifest, and a
    half-finished data set may be resumed with another batch size."""
    out = tmp_path / "b3"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--batch-size", "3", "--quiet"]) == 0
    assert shard_bytes(out) == shard_bytes(reference)
    assert (out / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--batch-size", "1", "--quiet"]) == 0


def test_kill9_then_rerun_gives_the_same_bytes(reference, tiny_yaml, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(cli_command("render-dataset", "--config", tiny_yaml, "--out", out, "--quiet"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "shards" / "shard-000000.tar"
    deadline = time.monotonic() + 180
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists(), proc.stderr.read().decode()
    if still_running:
        assert not (out / "manifest.json").exists()
    res = run_cli("render-dataset", "--config", tiny_yaml, "--out", out, "--quiet")
    assert res.returncode == 0, res.stderr
    assert "skipped" in res.stdout
    assert shard_bytes(out) == shard_bytes(reference)
    assert (out / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_rerun_skips_complete_shards_and_repairs_a_corrupted_one(reference, tiny_yaml, tmp_path, capsys):
    out = copy_dataset(reference, tmp_path / "copy")
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet"]) == 0
    assert "rendered 0 pairs in 0 shards, skipped 3 complete" in capsys.readouterr().out
    shard = out / "shards" / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[2000] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet", "--workers", "2"]) == 0
    assert "rendered 2 pairs in 1 shards, skipped 2 complete" in capsys.readouterr().out
    assert shard_bytes(out) == shard_bytes(reference)


def test_different_config_is_refused_without_force(reference, tiny_yaml, tmp_path, capsys):
    out = copy_dataset(reference, tmp_path / "copy")
    before = shard_bytes(out)
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--seed", "6"]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "'seed' is 5 there, 6 here" in err and "--force" in err
    assert shard_bytes(out) == before and (out / "manifest.json").exists()
    # a foreign, non-empty directory is refused too
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", foreign]) == 2
    assert "holds no config.yaml" in capsys.readouterr().err
    # --force replaces the old data set (one identity, one pair: quick)
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--identities", "1",
                "--images-per-identity", "1", "--force", "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["pairs"] == 1 and sorted(shard_bytes(out)) == ["shard-000000.tar"]


def test_torchrun_style_ranks_split_shards_and_rank0_writes_manifest(reference, tiny_yaml, tmp_path):
    out = tmp_path / "dist"
    procs = []
    for rank in (1, 0):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        procs.append(subprocess.Popen(cli_command("render-dataset", "--config", tiny_yaml, "--out", out, "--quiet",
                                                  "--wait-timeout", "240"),
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert "rank 1/2" in outputs[0][0] and "manifest" in outputs[1][0]
    assert "rendered 2 pairs in 1 shards" in outputs[0][0]  # rank 1 owns shard 1 only
    assert shard_bytes(out) == shard_bytes(reference)
    assert (out / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()


def test_identity_source_asset_directory(tmp_path, capsys):
    from nirvis.cli import main as nirvis_main
    from nirvis.shards.reader import iter_pairs

    assets = tmp_path / "ids"
    assert nirvis_main(["identities", "--count", "2", "--seed", "3", "--out", str(assets), "--resolution", "128",
                        "--quiet"]) == 0
    index = json.loads((assets / "identities.json").read_text())
    out = tmp_path / "ds"
    assert cli(["render-dataset", "--out", out, "--identity-source", assets, "--identities", "3"]) == 2
    assert "holds only 2 face assets" in capsys.readouterr().err and not out.exists()
    assert cli(["render-dataset", "--out", out, "--identity-source", assets, "--identities", "2",
                "--images-per-identity", "1", "--shard-size", "4", "--quiet"]) == 0
    samples = list(iter_pairs(out))
    assert [s.label for s in samples] == [0, 1]
    assert [s.meta["identity_seed"] for s in samples] == [e["seed"] for e in index["identities"]]
    assert all(s.meta["identity_source"] == "assets" for s in samples)
    assert cli(["verify", out]) == 0
    source = json.loads((out / "manifest.json").read_text())["identity_source"]
    assert source["kind"] == "assets" and source["path"] == str(assets.resolve()) and len(source["sha256"]) == 64
    # changed assets are a different data set: the manifest's fingerprint follows them
    fp = json.loads((out / "manifest.json").read_text())["fingerprint"]
    meta = json.loads((assets / "0000001" / "asset.json").read_text())
    meta["metadata"]["note"] = "edited"
    (assets / "0000001" / "asset.json").write_text(json.dumps(meta))
    assert cli(["render-dataset", "--out", out, "--identity-source", assets, "--identities", "2",
                "--images-per-identity", "1", "--shard-size", "4", "--quiet", "--force"]) == 0
    assert json.loads((out / "manifest.json").read_text())["fingerprint"] != fp


def test_a_shard_split_between_two_workers_has_the_same_bytes(tmp_path):
    """Workers take blocks of batches, not whole shards: a single shard rendered by two worker
    processes (four blocks) is the same file as one rendered in-process."""
    from nirvis.shards.format import plan_shards
    from nirvis.shards.render import plan_blocks

    assert len(plan_blocks(plan_shards(4, 2, 8), 2, 2, 2)) == 4
    yaml_path = tmp_path / "one_shard.yaml"
    yaml_path.write_text("identities: 4\nimages_per_identity: 2\nshard_size: 8\nbatch_size: 2\nseed: 3\n"
                         "texture_resolution: 64\nsample_space:\n  raw_resolution: 96\n")
    one, two = tmp_path / "w1", tmp_path / "w2"
    assert cli(["render-dataset", "--config", yaml_path, "--out", one, "--quiet"]) == 0
    assert cli(["render-dataset", "--config", yaml_path, "--out", two, "--workers", "2", "--quiet"]) == 0
    assert shard_bytes(two) == shard_bytes(one) and len(shard_bytes(one)) == 1


@pytest.mark.parametrize("identities, per_identity, batch, shard, workers", [(32, 20, 16, 1000, 2), (10, 3, 8, 7, 2),
                                                                            (1000, 20, 16, 1000, 2), (5, 16, 4, 30, 3)])
def test_blocks_cover_each_shard_once_on_its_batch_grid(identities, per_identity, batch, shard, workers):
    from nirvis.shards.format import plan_shards
    from nirvis.shards.render import plan_blocks

    plans = plan_shards(identities, per_identity, shard)
    blocks = plan_blocks(plans, batch, per_identity, workers)
    for plan in plans:
        mine = [b for b in blocks if b.plan.index == plan.index]
        assert mine[0].start == 0 and mine[-1].stop == plan.count
        assert all(a.stop == b.start for a, b in zip(mine, mine[1:]))
        assert all(b.start % batch == 0 for b in mine)          # the shard's own batches, unchanged
    if (batch, per_identity) == (16, 20):                        # blocks end on identities: none prepared twice
        assert all(b.stop % per_identity == 0 or b.stop == b.plan.count for b in blocks)
    assert max(b.stop - b.start for b in blocks) <= 256
    if sum(p.count for p in plans) >= 640:                         # enough work: every worker gets several blocks
        assert len(blocks) >= 4 * workers


def _thread_variables(q):
    import os

    from nirvis.shards.render import THREAD_VARIABLES
    q.put({k: os.environ.get(k) for k in THREAD_VARIABLES})


def test_workers_size_their_thread_pools_before_importing_torch(monkeypatch):
    """A spawned worker gets the thread variables of its share of the cores in its environment
    (set after start-up, idle OpenMP pools keep spinning); a smaller value the user set is kept,
    and the parent's environment is restored."""
    import multiprocessing as mp
    import os

    from nirvis.shards.render import THREAD_VARIABLES, thread_environment

    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    before = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with thread_environment(2):
        p = ctx.Process(target=_thread_variables, args=(q,))
        p.start()
    seen = q.get(timeout=120)
    p.join(60)
    assert seen["OMP_NUM_THREADS"] == "2" and seen["NUMBA_NUM_THREADS"] == "2" and seen["MKL_NUM_THREADS"] == "1"
    assert {k: os.environ.get(k) for k in THREAD_VARIABLES} == before


def test_render_dataset_bench_reports_rates_against_the_raster_baseline():
    """``nirvis bench render``'s end-to-end part: per worker count the wall-clock rate, the rate
    after start-up, the ratio to raster-only images/s of the same run, and identical shards for
    every worker count."""
    from nirvis.shards.bench import bench_render_dataset

    r = bench_render_dataset(identities=2, images_per_identity=6, workers=(1, 2), batch_size=2, shard_size=6,
                             texture_resolution=32, repeats=1)
    assert r["identical_shards_across_workers"] and r["pairs"] == 12
    assert r["raster_only_images_per_s"] > 0 and r["render_batch_pairs_per_s"] > 0
    for run in r["workers"].values():
        assert run["pairs_per_s"] > 0 and run["steady_pairs_per_s"] > 0
        assert run["ratio_to_raster_only"] == round(run["pairs_per_s"] / r["raster_only_images_per_s"], 4)


def test_the_rate_after_start_up_counts_from_the_first_progress_report(monkeypatch):
    """Start-up (before the first report) and the first report's pairs are left out; fewer than
    two later reports give no rate."""
    from nirvis.shards import render as render_mod

    now = iter([10.0, 11.0, 12.0, 14.0])
    monkeypatch.setattr(render_mod.time, "perf_counter", lambda: next(now))
    clock = render_mod._SteadyRate()
    for n, rate in ((16, 0.0), (16, 0.0), (16, 16.0), (32, 16.0)):
        clock.report(n)
        assert clock.pairs_per_s() == rate
