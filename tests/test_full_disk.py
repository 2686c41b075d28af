"""A full disk (simulated with RLIMIT_FSIZE: every write past the limit fails with EFBIG, as on a
full file system) ends in one line naming the path and the cause, exit code 2, and nothing at the
final path: no 0-byte model, no half report, no temporary left behind."""

from __future__ import annotations


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
