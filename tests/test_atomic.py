"""nirvis.atomic: every writer publishes complete files only and leaves no temporary behind,
whatever fails (the writer, the directory, the rename, Ctrl-C)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from PIL import Image

from nirvis import atomic
from nirvis.atomic import (OUTPUT_MARKER, atomic_write, atomic_write_bytes, atomic_write_json, atomic_write_named,
                           atomic_write_text, check_output_path, publish_dir, remove_stale_temporaries, save_image,
                           staged_dir)
from nirvis.errors import NirvisError, OutputExistsError


def _tree(root):
    """Every path under ``root`` (relative, sorted): what a failed write must not change."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


class Boom(Exception):
    pass


def _raise_after_partial_write(f):
    f.write(b"partial")
    raise Boom("writer failed half way")


# One entry per public file writer: (name, call(path) that writes b"new" or an equivalent file,
# call(path) whose writer raises after writing part of the content).
def _img(path):
    return save_image(Image.new("L", (2, 1), 7), path)


class _BadImage:
    def save(self, f, format=None):
        f.write(b"\x89PNG partial")
        raise Boom("encoder failed")


WRITERS = {
    "atomic_write": (lambda p: atomic_write(p, lambda f: f.write(b"new")),
                     lambda p: atomic_write(p, _raise_after_partial_write)),
    "atomic_write_named": (lambda p: atomic_write_named(p, lambda q: q.write_bytes(b"new")),
                           lambda p: atomic_write_named(p, lambda q: (q.write_bytes(b"part"), _raise(Boom())))),
    "atomic_write_bytes": (lambda p: atomic_write_bytes(p, b"new"), None),
    "atomic_write_text": (lambda p: atomic_write_text(p, "new"), lambda p: atomic_write_text(p, "\udcff")),
    "atomic_write_json": (lambda p: atomic_write_json(p, {"a": 1}), lambda p: atomic_write_json(p, {"a": object()})),
    "save_image": (_img, lambda p: save_image(_BadImage(), p)),
}


def _raise(exc):
    raise exc


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writer_publishes_complete_file_without_leftovers(tmp_path, name):
    write, _ = WRITERS[name]
    target = tmp_path / "sub" / "dir" / "out.png"  # parents are created
    assert write(target) == target
    assert target.is_file() and target.stat().st_size > 0
    assert _tree(tmp_path) == ["sub", "sub/dir", "sub/dir/out.png"]


@pytest.mark.parametrize("name", sorted(n for n, (_, fail) in WRITERS.items() if fail is not None))
def test_failing_writer_keeps_old_content_and_leaves_no_temporary(tmp_path, name):
    _, fail = WRITERS[name]
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises((Boom, TypeError, UnicodeEncodeError)):
        fail(target)
    assert target.read_bytes() == b"old"
    assert _tree(tmp_path) == ["out.png"]


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_path_under_a_regular_file_fails_cleanly(tmp_path, name):
    write, _ = WRITERS[name]
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OSError):
        write(tmp_path / "file" / "out.png")
    assert _tree(tmp_path) == ["file"]


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_rename_failure_leaves_no_temporary(tmp_path, name):
    write, _ = WRITERS[name]
    target = tmp_path / "out.png"
    target.mkdir()  # a non-empty directory: os.replace(file, dir) fails, even for root
    (target / "keep").write_bytes(b"k")
    with pytest.raises(OSError):
        write(target)
    assert _tree(tmp_path) == ["out.png", "out.png/keep"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
@pytest.mark.parametrize("name", sorted(WRITERS))
def test_read_only_directory_fails_cleanly(tmp_path, name):
    write, _ = WRITERS[name]
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(PermissionError):
            write(ro / "out.png")
        assert _tree(ro) == []
    finally:
        ro.chmod(stat.S_IRWXU)


def test_ctrl_c_in_writer_leaves_no_temporary(tmp_path):
    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.bin", interrupted)
    assert _tree(tmp_path) == []


def test_fsync_is_optional(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    atomic_write_bytes(tmp_path / "a", b"1")
    atomic_write_named(tmp_path / "b", lambda p: p.write_bytes(b"1"))
    assert len(calls) == 2
    atomic_write_bytes(tmp_path / "c", b"1", fsync=False)
    atomic_write_named(tmp_path / "d", lambda p: p.write_bytes(b"1"), fsync=False)
    atomic_write_json(tmp_path / "e", [], fsync=False)
    assert len(calls) == 2


def test_same_bytes_as_the_plain_writers(tmp_path):
    doc = {"b": [1, 2.5, None], "a": {"z": "é", "y": True}}
    atomic_write_json(tmp_path / "d.json", doc)
    assert (tmp_path / "d.json").read_bytes() == (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    atomic_write_json(tmp_path / "r.json", doc, sort_keys=False, allow_nan=False)
    assert (tmp_path / "r.json").read_text() == json.dumps(doc, indent=1, allow_nan=False) + "\n"
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8))
    img.save(tmp_path / "plain.png")
    save_image(img, tmp_path / "atomic.png")
    assert (tmp_path / "atomic.png").read_bytes() == (tmp_path / "plain.png").read_bytes()
    atomic_write(tmp_path / "x.npz", lambda f: np.savez(f, x=np.arange(3)))
    assert np.load(tmp_path / "x.npz")["x"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown image file extension"):
        save_image(img, tmp_path / "sheet.unknown")
    assert not (tmp_path / "sheet.unknown").exists()


def test_named_writer_sees_the_target_name(tmp_path):
    seen = []
    atomic_write_named(tmp_path / "model.pt", lambda p: (seen.append(p.name), p.write_bytes(b"m")))
    assert seen == ["model.pt"] and _tree(tmp_path) == ["model.pt"]


# --------------------------------------------------------------------------------- directories


def test_staged_dir_publishes_on_success(tmp_path):
    out = tmp_path / "a" / "out"
    with staged_dir(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".out.") and not out.exists()
        (tmp / "f.txt").write_text("x")
    assert _tree(tmp_path) == ["a", "a/out", f"a/out/{OUTPUT_MARKER}", "a/out/f.txt"]
    assert json.loads((out / OUTPUT_MARKER).read_text())["files"] == ["f.txt"]


def test_staged_dir_removes_everything_when_the_block_fails(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(Boom):
        with staged_dir(out) as tmp:
            (tmp / "f.txt").write_text("x")
            raise Boom()
    assert _tree(tmp_path) == []


def test_staged_dir_refuses_existing_output_before_work(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("o")
    ran = []
    with pytest.raises(OutputExistsError, match="out: already exists.*--force"):
        with staged_dir(out):
            ran.append(1)
    assert ran == [] and _tree(tmp_path) == ["out", "out/old"]
    assert issubclass(OutputExistsError, NirvisError) and issubclass(OutputExistsError, FileExistsError)


def test_staged_dir_force_replaces_only_what_nirvis_wrote(tmp_path):
    out = tmp_path / "out"
    with staged_dir(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "old").write_text("o")
    with staged_dir(out, force=True) as tmp:
        (tmp / "new").write_text("n")
    assert _tree(tmp_path) == ["out", f"out/{OUTPUT_MARKER}", "out/new"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_dir(empty, mark=False) as tmp:
        (tmp / "new").write_text("n")
    assert sorted(os.listdir(empty)) == ["new"]


@pytest.mark.parametrize("case", ["user_dir", "user_file_added", "plain_file", "bad_marker", "symlink"])
def test_force_never_removes_files_nirvis_did_not_write(tmp_path, case):
    out = tmp_path / "out"
    if case == "user_dir":            # e.g. --out pointed at a home or data directory
        out.mkdir()
        (out / "thesis.tex").write_text("years of work")
    elif case == "user_file_added":   # a nirvis output the user then put a file into
        with staged_dir(out) as tmp:
            (tmp / "a.png").write_bytes(b"png")
        (out / "notes").mkdir()
        (out / "notes" / "mine.txt").write_text("mine")
    elif case == "plain_file":
        out.write_text("a file")
    elif case == "bad_marker":
        out.mkdir()
        (out / OUTPUT_MARKER).write_text("{not json")
        (out / "data.bin").write_bytes(b"x")
    else:
        (tmp_path / "target").mkdir()
        (tmp_path / "target" / "f").write_text("f")
        out.symlink_to(tmp_path / "target")
    before = _tree(tmp_path)
    with pytest.raises(OutputExistsError, match="--force replaces only an output nirvis wrote"):
        with staged_dir(out, force=True) as tmp:
            (tmp / "x").write_text("x")
    assert _tree(tmp_path) == before
    if case == "user_file_added":
        with pytest.raises(OutputExistsError, match="notes/mine.txt"):
            check_output_path(out, force=True)


def test_staged_dir_in_a_read_only_or_bad_parent(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        with staged_dir(tmp_path / "file" / "out"):
            pass
    assert _tree(tmp_path) == ["file"]


def test_publish_failure_removes_the_staging_directory(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputExistsError):
        with staged_dir(out) as tmp:
            (tmp / "f").write_text("x")
            out.mkdir()  # someone else created it meanwhile
            (out / "theirs").write_text("t")
    assert _tree(tmp_path) == ["out", "out/theirs"]


def test_publish_dir_restores_the_old_output_if_the_swap_fails(tmp_path, monkeypatch):
    out, new = tmp_path / "out", tmp_path / "new"
    with staged_dir(out, mark=True) as tmp:
        (tmp / "old").write_text("o")
    new.mkdir()
    (new / "n").write_text("n")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # moving the new directory into place
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(OSError, match="disk gone"):
        publish_dir(new, out, force=True)
    monkeypatch.undo()
    assert _tree(tmp_path) == ["new", "new/n", "out", f"out/{OUTPUT_MARKER}", "out/old"]


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "missing") == tmp_path / "missing"
    assert check_output_path(tmp_path) == tmp_path  # empty directory
    (tmp_path / "x").write_text("x")
    with pytest.raises(OutputExistsError):
        check_output_path(tmp_path)
    with pytest.raises(OutputExistsError):
        check_output_path(tmp_path / "x")
    with pytest.raises(OutputExistsError, match="not a directory nirvis wrote"):
        check_output_path(tmp_path / "x", force=True)
    assert check_output_path(tmp_path / "x", force=True, replace_unmarked=True) == tmp_path / "x"


def test_remove_stale_temporaries_only_touches_the_paths_own(tmp_path):
    (tmp_path / ".a.tar.k2j3.tmp").write_text("t")        # killed file write
    (tmp_path / ".a.tar.json.k2j3.tmp").write_text("t")   # killed sidecar write
    (tmp_path / ".a.tar.x9.partial").mkdir()              # killed directory build
    (tmp_path / ".b.tar.k2j3.tmp").write_text("t")        # another path's
    (tmp_path / "a.tar").write_text("done")
    (tmp_path / ".a.tar.notes").write_text("n")           # not a temporary
    removed = remove_stale_temporaries(tmp_path / "a.tar")
    assert sorted(p.name for p in removed) == [".a.tar.json.k2j3.tmp", ".a.tar.k2j3.tmp", ".a.tar.x9.partial"]
    assert _tree(tmp_path) == [".a.tar.notes", ".b.tar.k2j3.tmp", "a.tar"]
    assert remove_stale_temporaries(tmp_path / "nowhere" / "a") == []
