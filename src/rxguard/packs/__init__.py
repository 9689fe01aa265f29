"""The built-in knowledge packs, registered under the ``rxguard.packs`` entry point.

Each folder here holding a ``pack.yaml`` is a built-in pack. Its entry point in
``pyproject.toml`` names ``rxguard.packs:<folder>_path``; that attribute is made
here for every folder, so adding a built-in pack is a folder and one line of
``pyproject.toml``, with no Python.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).parent
BUILTIN = tuple(sorted(child.name for child in _HERE.iterdir() if (child / "pack.yaml").is_file()))
_SUFFIX = "_path"


def pack_path(name: str) -> Path:
    """The folder of the built-in pack ``name``."""
    if name not in BUILTIN:
        raise LookupError(f"no built-in pack {name!r}; built-in packs: {', '.join(BUILTIN)}")
    return _HERE / name


def __getattr__(attribute: str) -> Callable[[], Path]:
    name = attribute.removesuffix(_SUFFIX)
    if attribute.endswith(_SUFFIX) and name in BUILTIN:
        return lambda: pack_path(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
