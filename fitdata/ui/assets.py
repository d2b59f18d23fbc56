"""JavaScript and CSS the dashboards ship with, kept as files under ``fitdata/ui/static/``.

A browser-side file is easier to read, lint and review as a file than as a Python string, and
the package data (``pyproject.toml``) carries it into a wheel. :func:`asset` reads one through
:mod:`importlib.resources`, so it works from a checkout, an installed wheel or a zip.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["asset"]


@cache
def asset(name: str) -> str:
    """The text of ``fitdata/ui/static/<name>`` (read once per process).

    Raises:
        FileNotFoundError: If the package has no such file (a broken install: reinstall it).
    """
    return resources.files("fitdata.ui").joinpath("static", name).read_text(encoding="utf-8")
