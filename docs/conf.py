"""Sphinx configuration of the hemoclf documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(``tox -e docs``). The example gallery is executed during the build; set
``HEMOCLF_DOCS_NO_GALLERY_EXEC=1`` to render the examples without running
them (the test suite does so to check that every page builds).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Quiet TensorFlow's C++ start-up messages in the executed examples.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hemoclf

# -- Project -----------------------------------------------------------------

project = "hemoclf"
author = "The hemoclf developers"
copyright = "the hemoclf developers"
release = hemoclf.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/sg_execution_times.rst"]
default_role = "literal"
# Cross-references to Python, NumPy, scikit-learn and imbalanced-learn are
# left unresolved on purpose: the docs build offline, without intersphinx.
nitpicky = False

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"hemoclf {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

# -- Example gallery ---------------------------------------------------------

# Examples named plot_*.py run at build time on the built-in phantom; the
# others (e.g. examples/applications/, which need the real head CT set) are
# shown without being run.
_execute = os.environ.get("HEMOCLF_DOCS_NO_GALLERY_EXEC", "") in ("", "0")

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": "True" if _execute else "False",
    "subsection_order": [
        "../examples/data",
        "../examples/paper",
        "../examples/sensitivity",
        "*",
        "../examples/applications",
    ],
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
}


# -- Inherited members -------------------------------------------------------

# Methods inherited from scikit-learn's mixins whose docstrings point into
# scikit-learn's own user guide (metadata routing, set_output, score); the
# class pages keep fit, predict, transform, get_params, set_params, ...
_SKLEARN_PLUMBING = {"get_metadata_routing", "set_output", "score"}


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):
    if what != "class":
        return None
    if name in _SKLEARN_PLUMBING or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return None


# -- Command line help ---------------------------------------------------------

CLI_COMMANDS = ("reproduce", "train", "predict", "evaluate")


def _write_cli_help(app):
    """Write ``hemoclf [COMMAND] --help`` to generated/cli/, for command_line.rst.

    Taken from the parser itself at every build, so the page cannot drift
    from the options the command accepts.
    """
    from hemoclf.cli import build_parser

    out = Path(app.srcdir) / "generated" / "cli"
    out.mkdir(parents=True, exist_ok=True)
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        parser = build_parser()
        subparsers = next(
            action for action in parser._actions if action.choices
            and set(CLI_COMMANDS) <= set(action.choices)
        )
        texts = {"hemoclf": parser.format_help()}
        for name in CLI_COMMANDS:
            texts[name] = subparsers.choices[name].format_help()
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    for name, text in texts.items():
        path = out / f"{name}.txt"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)
    app.connect("builder-inited", _write_cli_help)
