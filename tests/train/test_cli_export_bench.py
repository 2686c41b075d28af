import pytest

from nirvis.train import cli as train_cli


def run(argv):
    return train_cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def run_dir(tiny_data, tmp_path_factory):
    from train_helpers import ROOT

    out = tmp_path_factory.mktemp("cli") / "run"
    rc = run(["train", "--config", ROOT / "configs/train/tiny.yaml", "--data", tiny_data, "--out", out, "--steps", 2,
              "--quiet", "--set", "data.identities_per_batch=3", "--set", "model.width=0.125",
              "--set", "model.embedding_size=32", "--set", "data.vis_per_identity=2"])
    assert rc == 0
    return out


def test_cli_train_and_resume(run_dir, tiny_data, capsys):
    assert (run_dir / "config.yaml").is_file() and (run_dir / "log.csv").is_file()
    assert run(["train", "--data", tiny_data, "--out", run_dir, "--resume", "--steps", 3, "--quiet"]) == 0
    assert "trained 3 steps" in capsys.readouterr().out


def test_cli_user_errors(tiny_data, tmp_path, capsys):
    assert run(["train", "--data", tmp_path / "missing", "--out", tmp_path / "r", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nirvis train: error: ")
    assert run(["train", "--data", tiny_data, "--out", tmp_path / "r", "--set", "optim.lr=-1"]) == 2
    assert "field 'optim.lr' must be > 0" in capsys.readouterr().err
    assert run(["export-model", tmp_path / "nothing", "--out", tmp_path / "x.onnx"]) == 2
    assert capsys.readouterr().err.startswith("nirvis export-model: error: ")


def test_export_torchscript(run_dir, tmp_path):
    from nirvis.train.export import export_model

    info = export_model(run_dir, "torchscript", tmp_path / "m.pt")
    assert info["max_rel_diff"] < 1e-5 and info["embedding_size"] == 32


def test_export_onnx_matches_torch(run_dir, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    assert run(["export-model", run_dir, "--format", "onnx", "--out", tmp_path / "m.onnx"]) == 0
    import json

    info = json.loads((tmp_path / "m.onnx.json").read_text())
    assert info["max_rel_diff"] < 1e-4, info


def test_bench_train(tiny_data):
    from nirvis.train.bench import bench_train
    from train_helpers import tiny_config

    r = bench_train(tiny_config(), [str(tiny_data)], steps=2, warmup=1)
    assert r["loader_images_per_s"] > 0 and r["train_images_per_s"] > 0 and 0 < r["idmmd_share"] < 1
