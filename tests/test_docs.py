"""The documentation: every example compiles, every public name is in the API
reference, and the Sphinx build passes with warnings as errors."""

import importlib
import os
import py_compile
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").rglob("*.py"))
SUBPACKAGES = (
    "hemoclf",
    "hemoclf.datasets",
    "hemoclf.preprocessing",
    "hemoclf.sampling",
    "hemoclf.metrics",
    "hemoclf.model_selection",
    "hemoclf.inspection",
)


def test_there_are_examples():
    assert any(path.name.startswith("plot_") for path in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "example.pyc"), doraise=True)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_has_a_gallery_title(path):
    """sphinx-gallery needs a docstring with a title underlined to its length."""
    text = path.read_text()
    match = re.match(r'"""\n(=+)\n(.+)\n(=+)\n', text)
    assert match, f"{path} must open with a docstring whose first lines are a title"
    over, title, under = match.groups()
    assert len(over) == len(under) >= len(title), f"{path}: title lines differ"


@pytest.mark.parametrize("module", SUBPACKAGES)
def test_public_names_in_api_reference(module):
    api = (DOCS / "api.rst").read_text()
    documented = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", api))
    missing = sorted(
        name
        for name in importlib.import_module(module).__all__
        if name not in documented
    )
    assert not missing, f"{module}.__all__ names missing from docs/api.rst: {missing}"


@pytest.mark.slow
def test_sphinx_build_without_warnings(tmp_path):
    """The documentation builds with -W; the gallery is rendered, not run."""
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    env = dict(os.environ, HEMOCLF_DOCS_NO_GALLERY_EXEC="1")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    html = tmp_path / "html"
    for page in ("index.html", "api.html", "quick_start.html",
                 "command_line.html", "user_guide/sensitivity.html",
                 "auto_examples/index.html",
                 "generated/hemoclf.HemorrhageCNNClassifier.html"):
        assert (html / page).is_file(), f"{page} was not built"
