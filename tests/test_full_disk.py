"""A full disk (simulated with RLIMIT_FSIZE: every write past the limit fails with EFBIG, as on a
full file system) ends in one line naming the path and the cause, exit code 2, and nothing at the
final path: no 0-byte model, no half report, no temporary left behind. An output in a directory
nobody may write (sysfs refuses even root) is one line too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_a_plot_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, on_a_full_disk):
    out = tmp_path / "plots" / "spectra.png"
    proc, lines = on_a_full_disk(["reflectance", "plot", "--tones", "2", "--out", out], 2000, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and str(out) in lines[0] and "File too large" in lines[0], proc.stderr
    assert list((tmp_path / "plots").iterdir()) == []   # no partial file, no temporary


def test_an_eval_fixture_on_a_full_disk_publishes_nothing(tmp_path, on_a_full_disk):
    out = tmp_path / "casia"
    proc, lines = on_a_full_disk(["eval-fixture", "casia", "--out", out], 3000, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "could not write" in lines[0] and str(out) in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _unwritable_dir():
    """A directory that even root cannot write into (sysfs), or skip."""
    probe = Path("/sys/nirvis-write-probe")
    try:
        os.mkdir(probe)
    except PermissionError:
        return Path("/sys")
    except OSError:
        pass
    else:
        os.rmdir(probe)
    pytest.skip("no unwritable directory on this machine (/sys accepts writes or is missing)")


@pytest.mark.parametrize("command", ["reflectance", "eval-fixture", "identities"])
def test_an_unwritable_output_is_one_line_naming_it(capsys, command):
    from nirvis.cli import main

    out = _unwritable_dir() / "nirvis-out" / ("spectra.png" if command == "reflectance" else "o")
    argv = {"reflectance": ["reflectance", "plot", "--tones", "2", "--out", out],
            "eval-fixture": ["eval-fixture", "casia", "--out", out],
            "identities": ["identities", "--count", "1", "--resolution", "128", "--quiet", "--out", out]}[command]
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nirvis-out" in err[0] and "Operation not permitted" in err[0], err
