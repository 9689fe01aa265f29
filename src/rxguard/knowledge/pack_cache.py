"""A cache of validated packs, so a command does not read and validate every pack's YAML each time it starts.

Reading the packs' YAML and validating it is most of what ``rxguard check`` spends
before it checks anything. A pack read once is kept as one file per pack (a pickle)
under the user's cache folder, named by a hash of everything its validity rests on:
the bytes of every file in the pack folder, the code that reads and validates packs
(every module of :mod:`rxguard.knowledge`), and the versions of rxguard, Python and
pydantic. Change any pack file (or upgrade) and the name changes, so a stale pack is
never served: the pack is read from its YAML again and the new result kept.

The cache only ever speeds a start up. A folder that cannot be written, a file that
cannot be read, was cut short or holds something else is ignored and the pack read
from YAML, as without a cache. A cache file is read only when it belongs to the
user running rxguard and nobody else may write it (a pickle runs code as it loads).

Where: ``RXGUARD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/rxguard``, else
``~/.cache/rxguard``. ``RXGUARD_PACK_CACHE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

#: Bumped when the shape of a cache file changes.
FORMAT = 1
_KNOWLEDGE = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """The folder the packs are kept in, or None when the cache is turned off."""
    if os.environ.get("RXGUARD_PACK_CACHE", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    explicit = os.environ.get("RXGUARD_CACHE_DIR")
    if explicit:
        return Path(explicit) / "packs"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rxguard" / "packs"


@cache
def _code_digest() -> str:
    """The versions and the pack-reading code a cached pack was made with."""
    import pydantic
    import pydantic_core

    from rxguard import __version__

    digest = hashlib.sha256()
    for part in (f"format {FORMAT}", __version__, sys.version, pydantic.VERSION, pydantic_core.__version__):
        digest.update(part.encode() + b"\0")
    for module in sorted(_KNOWLEDGE.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.hexdigest()


def pack_key(path: Path) -> str:
    """A name that changes whenever any file of the pack folder, or the code reading it, changes."""
    digest = hashlib.sha256(_code_digest().encode())
    root = Path(path)
    digest.update(str(root.resolve()).encode() + b"\0")  # a pack keeps its own paths (its vignette files)
    for file in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _is_ours(status: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else."""
    owner = getattr(os, "getuid", None)
    mine = owner is None or status.st_uid == owner()
    return mine and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(file: Path) -> Any:
    """What a cache file holds, or None when it is missing, not ours, or unreadable."""
    try:
        with file.open("rb") as handle:
            if not (_is_ours(os.fstat(handle.fileno())) and _is_ours(file.parent.stat())):
                return None
            return pickle.load(handle)
    except Exception:  # any unreadable cache file is only a cache miss
        return None


def _write(folder: Path, file: Path, value: Any) -> None:
    """Keep ``value`` in ``file`` whole or not at all (a reader never sees half a file); failures are ignored."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except Exception:  # an unwritable cache only means the next start reads YAML again
        return


def cached(path: Path, load: Callable[[Path], Any], expected: type) -> Any:
    """The pack at ``path``: from the cache when it holds this exact pack, else ``load(path)`` (then kept)."""
    folder = cache_dir()
    if folder is None:
        return load(path)
    try:
        key = pack_key(path)
    except OSError:
        return load(path)
    place = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    stem = f"{Path(path).name}-{place}-"
    file = folder / f"{stem}{key[:32]}.pickle"
    found = _read(file)
    if isinstance(found, tuple) and len(found) == 2 and found[0] == key and isinstance(found[1], expected):
        return found[1]
    value = load(path)
    _write(folder, file, (key, value))
    _forget_older(folder, stem, keep=file)
    return value


def _forget_older(folder: Path, stem: str, *, keep: Path) -> None:
    """Remove the files kept for earlier contents of the same pack folder."""
    try:
        for old in folder.glob(f"{stem}*.pickle"):
            if old != keep:
                old.unlink(missing_ok=True)
    except OSError:
        return
