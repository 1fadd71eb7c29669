"""Optional dependencies: the pip extras that install them, and the hint an error gives.

wattprint's core needs no GPU library, plotting or Parquet support; each of
those is an extra (``nvidia``, ``amd``, ``report``, ``parquet``, ``serve``)
declared in ``pyproject.toml``. A feature that needs one imports it lazily
and, when it is missing, says how to install it both ways: from the package
index, and from a source checkout, where ``wattprint[...]`` names a package
that pip would fetch instead of the checkout.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """How to install the ``extra`` (e.g. ``report``), installed and from a checkout."""
    return (f"pip install 'wattprint[{extra}]' "
            f"(in a source checkout: pip install -e '.[{extra}]')")
