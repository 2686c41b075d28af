"""Every reflectance module documents its public functions with an example (pytest runs them all
with ``--doctest-modules``, see pyproject.toml)."""

import doctest
import importlib

import pytest

MODULES = ["spectra", "optics", "skin", "tissues", "sensors", "regions", "lut", "rgbgrid", "invert", "specular",
           "baseline", "cli", "plot"]


@pytest.mark.parametrize("name", MODULES)
def test_module_has_docstring_examples(name):
    module = importlib.import_module(f"nirvis.reflectance.{name}")
    examples = sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
    assert examples > 0, f"{module.__name__} has no docstring example"


def test_public_api_documented():
    import nirvis.reflectance as r

    for name in r.__all__:
        obj = getattr(r, name)
        if callable(obj) and not isinstance(obj, type):
            doc = obj.__doc__ or ""
            assert "Example:" in doc and "Returns:" in doc, name
