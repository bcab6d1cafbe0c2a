"""The top-level package: its public names, loaded on first use."""

import importlib
import subprocess
import sys

import pytest

import hemoclf


def test_import_loads_neither_scikit_learn_nor_tensorflow():
    code = (
        "import sys, hemoclf, hemoclf.cli; "
        "print([m for m in ('sklearn', 'tensorflow', 'keras', 'scikeras') "
        "if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(set(hemoclf.__all__) - {"__version__"}))
def test_public_names_resolve_and_are_listed(name):
    value = getattr(hemoclf, name)
    assert value.__module__.startswith("hemoclf.")
    assert name in dir(hemoclf)
    # The name is the object its home module defines, not a copy.
    assert getattr(importlib.import_module(value.__module__), name) is value


@pytest.mark.parametrize("subpackage", ["datasets", "inspection", "metrics",
                                        "model_selection", "preprocessing",
                                        "sampling"])
def test_subpackages_load_on_attribute_access(subpackage):
    module = getattr(hemoclf, subpackage)
    assert module is importlib.import_module(f"hemoclf.{subpackage}")


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_estimator"):
        hemoclf.no_such_estimator  # noqa: B018
