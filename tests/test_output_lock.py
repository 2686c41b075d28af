"""One writer per output: a second nirvis process writing the same output gets one clear error,
a killed holder frees the lock, and the lock file never lands inside the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from nirvis.cli import main
from nirvis.errors import OutputLockedError, WriteError
from nirvis.output_lock import lock_path, output_lock


def _holder(out, command="render-dataset"):
    """A separate process holding the lock of ``out`` until its stdin closes."""
    code = textwrap.dedent(f"""
        import sys
        from nirvis.output_lock import output_lock
        with output_lock({str(out)!r}, {command!r}):
            print("locked", flush=True)
            sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _release(proc):
    proc.stdin.close()
    proc.wait(timeout=30)


def test_a_second_render_dataset_on_one_out_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "ds"
    proc = _holder(out)
    try:
        code = main(["render-dataset", "--out", str(out), "--identities", "1", "--images-per-identity", "1",
                     "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1
        assert f"another `nirvis render-dataset` (pid {proc.pid})" in err[0] and str(out) in err[0]
        assert not out.exists()  # the refused process wrote nothing
    finally:
        _release(proc)
    assert not lock_path(out).exists()  # released: the holder removed its lock file


def test_train_and_export_take_the_lock_too(tmp_path):
    from nirvis.shards.export import export_folders
    from nirvis.train.config import load_config
    from nirvis.train.loop import train

    run, exported = tmp_path / "run", tmp_path / "exp"
    holders = [_holder(run, "train"), _holder(exported, "export")]
    try:
        cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "train", "tiny.yaml"))
        with pytest.raises(OutputLockedError, match="another `nirvis train`"):
            train(cfg, [str(tmp_path / "data")], run)
        with pytest.raises(OutputLockedError, match="another `nirvis export`"):
            export_folders(tmp_path / "data", exported)
    finally:
        for h in holders:
            _release(h)


def test_a_killed_holder_frees_the_lock(tmp_path):
    out = tmp_path / "ds"
    proc = _holder(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert lock_path(out).exists()          # kill -9 leaves the file, but not the lock
    with output_lock(out, "render-dataset") as path:
        assert path == lock_path(out) and path.read_text().split()[0] == str(os.getpid())
    assert not lock_path(out).exists()


def test_ranks_of_one_launch_lock_apart_and_the_lock_lies_outside_the_output(tmp_path):
    out = tmp_path / "ds"
    with output_lock(out, "render-dataset", tag="rank0"), output_lock(out, "render-dataset", tag="rank1") as p1:
        assert p1.parent == tmp_path and p1.name == ".ds.rank1.lock"
        with pytest.raises(OutputLockedError):
            with output_lock(out, "render-dataset", tag="rank1"):
                pass


def test_a_lock_that_cannot_be_created_is_a_write_error_naming_it(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"file/\.ds\.lock: could not write"):
        with output_lock(tmp_path / "file" / "ds", "render-dataset"):
            pass
