"""The docstring examples of every module run with the test suite (``--doctest-modules`` over
src/nirvis in pyproject.toml), render's included; ruff and mypy are part of ``make test``."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import tomllib

import nirvis

ROOT = pathlib.Path(nirvis.__file__).parents[2]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pytest_collects_the_package_docstrings():
    opts = _config()["tool"]["pytest"]["ini_options"]
    assert "src/nirvis" in opts["testpaths"] and "--doctest-modules" in opts["addopts"].split()


def test_render_modules_have_examples_that_get_collected():
    finder = doctest.DocTestFinder()
    counts = {}
    for name in ("align", "camera", "sensor", "texture", "interpolate"):
        module = importlib.import_module(f"nirvis.render.{name}")
        counts[name] = sum(len(t.examples) for t in finder.find(module))
    assert all(n > 0 for n in counts.values()), counts


def test_make_test_runs_ruff_mypy_and_pytest():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = make.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    steps = [line.strip() for line in recipe.splitlines()[1:] if line.startswith("\t")]
    assert [s.split()[0].rsplit("/", 1)[-1] for s in steps] == ["ruff", "mypy", "$(PY)"]
    assert "pytest" in steps[-1]
    extra = " ".join(_config()["project"]["optional-dependencies"]["test"])
    assert "ruff" in extra and "mypy" in extra
