"""Pack vignettes as pytest items, for rxguard and for pack repositories outside it.

A pack repository runs its vignettes with pytest by enabling this plugin, in
its ``conftest.py``::

    pytest_plugins = ["rxguard.testing"]

or on the command line (``pytest -p rxguard.testing``). Every ``*.yaml`` file
in a ``vignettes/`` folder next to a ``pack.yaml`` is collected; each vignette
is one test, and a failure names the pack, the file, the line and what was
expected. The pack is loaded from its folder, so it need not be installed;
its own value sets are used to read the vignette's patient.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rxguard.knowledge.files import VIGNETTE_DIR
from rxguard.knowledge.loader import Pack, VignetteFile, load_pack


def is_vignette_file(file_path: Path) -> bool:
    """A YAML file in a pack's ``vignettes/`` folder."""
    return (
        file_path.suffix == ".yaml"
        and file_path.parent.name == VIGNETTE_DIR
        and (file_path.parent.parent / "pack.yaml").is_file()
    )


@functools.cache
def _pack_at(folder: Path) -> Pack:
    return load_pack(folder)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if is_vignette_file(file_path):
        collector: pytest.Collector = VignetteCollector.from_parent(parent, path=file_path)
        return collector
    return None


class VignetteCollector(pytest.File):
    """One vignette file: its vignettes, in file order."""

    def collect(self) -> Iterator[pytest.Item]:
        pack = _pack_at(self.path.parent.parent.resolve())
        for vfile in pack.vignette_files:
            if vfile.path.resolve() != self.path.resolve():
                continue
            for index, vignette in enumerate(vfile.vignettes):
                label = f"{vignette.ref}: {vignette.name}" if vignette.ref else vignette.name
                yield VignetteItem.from_parent(self, name=label, pack=pack, vfile=vfile, index=index)


class VignetteFailure(Exception):
    """A vignette whose expectations were not met (carries the VignetteResult)."""


class VignetteItem(pytest.Item):
    """One vignette: the rules that must fire, must not fire, the verdict, the stratum, the calendar."""

    def __init__(self, *, pack: Pack, vfile: VignetteFile, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pack, self.vfile, self.index = pack, vfile, index

    def runtest(self) -> None:
        from rxguard.engine.vignettes import run_vignette

        result = run_vignette(self.pack, self.vfile, self.index)
        if result.problems:
            raise VignetteFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, VignetteFailure):
            result = excinfo.value.args[0]
            lines = [f"{result.path}:{result.line}: vignette {result.name!r} ({result.pack})"]
            lines += [f"  - {p}" for p in result.problems]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.vfile.lines[self.index] - 1, f"vignette: {self.name}"
