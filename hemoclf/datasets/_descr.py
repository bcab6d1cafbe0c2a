"""Dataset descriptions, kept as reStructuredText files next to the code."""

from importlib import resources


def load_descr(name):
    """Text of ``descr/<name>`` in this package."""
    return resources.files(__package__).joinpath("descr").joinpath(name).read_text(
        encoding="utf-8"
    )
