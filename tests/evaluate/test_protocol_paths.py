"""Protocol list entries stay inside the image root, and a fold counts once."""

from __future__ import annotations

from pathlib import Path

import pytest

from nirvis.evaluate import fixtures as F
from nirvis.evaluate.benchmarks import buaa
from nirvis.evaluate.benchmarks.base import ProtocolError, native_path, select_folds


@pytest.mark.parametrize("entry", ["..\\..\\secret\\x.bmp", "../x.jpg", "VIS/../../x.jpg", "/etc/passwd",
                                   "C:\\Windows\\x.bmp", "\\\\server\\share\\x.bmp"])
def test_entries_leaving_the_root_are_refused_naming_the_list(entry, tmp_path):
    with pytest.raises(ProtocolError, match=r"nir_probe\.txt: list entry .* points outside the image root"):
        native_path(tmp_path, entry, tmp_path / "protocols" / "nir_probe.txt")


@pytest.mark.parametrize("entry, parts", [("s2\\NIR\\10153\\001.bmp", ("s2", "NIR", "10153", "001.bmp")),
                                          ("VIS/./x.jpg", ("VIS", "x.jpg")), ("a..b/c.jpg", ("a..b", "c.jpg"))])
def test_entries_inside_the_root_resolve(entry, parts, tmp_path):
    assert native_path(tmp_path, entry) == Path(tmp_path).joinpath(*parts)


def test_a_buaa_list_pointing_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "buaa"
    F.write_buaa(root, lists=True, train_subjects=2)
    (tmp_path / "secret.bmp").write_bytes(b"")
    probe = root / "protocols" / "nir_probe.txt"
    lines = probe.read_text().splitlines()
    label = lines[0].split()[1]
    probe.write_text("\n".join(["..\\secret.bmp " + label] + lines[1:]) + "\n")
    with pytest.raises(ProtocolError, match=r"nir_probe\.txt: list entry '\.\.\\\\secret\.bmp' points outside"):
        buaa.load(root)


def test_a_fold_given_twice_is_refused():
    with pytest.raises(ValueError, match=r"fold\(s\) \['1'\] given more than once"):
        select_folds(["1", "2", "3"], "1,1")
    with pytest.raises(ValueError, match="no fold given"):
        select_folds(["1", "2"], ",")
    assert select_folds(["1", "2", "3"], "3,1") == ["3", "1"]
