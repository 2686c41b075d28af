"""One error base class (NirvisError) for every project error, reported once by the command line."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil

import pytest

import nirvis
from nirvis.cli import build_parser, main
from nirvis.errors import NirvisError, UsageError, WriteError

SRC = pathlib.Path(nirvis.__file__).parent


def _all_modules():
    return [m.name for m in pkgutil.walk_packages(nirvis.__path__, "nirvis.")]


def _project_errors() -> list[type]:
    seen = {}
    for name in _all_modules():
        mod = importlib.import_module(name)
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("nirvis"):
                seen[(obj.__module__, obj.__qualname__)] = obj
    return list(seen.values())


def test_every_project_error_derives_from_nirvis_error_and_names_are_unique():
    errors = _project_errors()
    assert len(errors) >= 15
    assert [e.__qualname__ for e in errors if not issubclass(e, NirvisError)] == []
    names = [e.__qualname__ for e in errors]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []  # e.g. no two ExportErrors


def test_errors_keep_their_builtin_bases():
    from nirvis.evaluate.benchmarks.base import ProtocolError
    from nirvis.faces.errors import FaceDataError
    from nirvis.render.raster import RasterBackendError
    from nirvis.shards.config import ConfigError

    assert issubclass(ConfigError, ValueError) and issubclass(FaceDataError, ValueError)
    assert issubclass(ProtocolError, FileNotFoundError) and issubclass(RasterBackendError, RuntimeError)
    assert UsageError.exit_code == 2 and WriteError.exit_code == 2


def test_no_command_prints_its_own_errors():
    """Only nirvis.errors.run_command writes ``nirvis <cmd>: error:`` lines."""
    offenders = []
    for p in SRC.rglob("*.py"):
        if p.name == "errors.py" and p.parent == SRC:
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ": error:" in node.value \
                    and id(node) not in docstrings:
                offenders.append(f"{p.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def _one_error_line(capsys, command):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"nirvis {command}: error: "), err
    return err[0]


def test_main_reports_user_errors_once(tmp_path, capsys):
    missing = tmp_path / "no_such_dataset"
    assert main(["export", str(missing), "--format", "folders", "--out", str(tmp_path / "o")]) == 2
    assert "no_such_dataset" in _one_error_line(capsys, "export")
    assert main(["identities", "--count", "0", "--out", str(tmp_path / "ids")]) == 2
    assert "--count must lie in [1, 10000000]" in _one_error_line(capsys, "identities")
    assert main(["train", "--data", str(missing), "--out", str(tmp_path / "run"), "--steps", "0"]) == 2
    assert "--steps must be >= 1" in _one_error_line(capsys, "train")
    assert main(["eval-fixture", "casia", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["eval-fixture", "casia", "--out", str(tmp_path)]) == 2  # exists
    assert "already exists" in _one_error_line(capsys, "eval-fixture")
    assert main(["reflectance", "plot", "--out", str(tmp_path / "spectra.svg")]) == 2
    assert "expected a .png path" in _one_error_line(capsys, "reflectance plot")


def test_write_failure_exits_2_naming_the_path(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["reflectance", "plot", "--tones", "2", "--out", str(tmp_path / "file" / "s.png")]) == 2
    line = _one_error_line(capsys, "reflectance plot")
    assert "could not write" in line and str(tmp_path / "file" / "s.png") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_handlers_raise_instead_of_returning_codes(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["export", str(tmp_path / "none"), "--format", "folders", "--out", str(tmp_path / "o")])
    with pytest.raises((NirvisError, FileNotFoundError)):
        args.func(args)
    args = parser.parse_args(["reflectance", "to-nir", str(tmp_path / "none.png"), "--out", str(tmp_path / "n.png")])
    with pytest.raises(NirvisError, match="none.png"):
        args.func(args)
