"""Every public docstring example runs."""

import doctest
import importlib

import pytest

MODULES = ["spectra", "optics", "skin", "tissues", "sensors", "regions", "lut", "rgbgrid", "invert", "specular",
           "baseline", "cli", "plot"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"nirvis.reflectance.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} failing example(s) in {module.__name__}"
    assert result.attempted > 0


def test_public_api_documented():
    import nirvis.reflectance as r

    for name in r.__all__:
        obj = getattr(r, name)
        if callable(obj) and not isinstance(obj, type):
            doc = obj.__doc__ or ""
            assert "Example:" in doc and "Returns:" in doc, name
