"""Pack vignettes are ordinary pytest items: a failure names the pack, the file, the line and the case."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if (
        file_path.suffix == ".yaml"
        and file_path.parent.name == "vignettes"
        and (file_path.parent.parent / "pack.yaml").is_file()
    ):
        return VignetteFile.from_parent(parent, path=file_path)
    return None


class VignetteFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        from rxguard.knowledge.loader import load_pack

        pack = load_pack(self.path.parent.parent)
        for vfile in pack.vignette_files:
            if vfile.path.resolve() != self.path.resolve():
                continue
            for index, vignette in enumerate(vfile.vignettes):
                label = f"{vignette.ref}: {vignette.name}" if vignette.ref else vignette.name
                yield VignetteItem.from_parent(self, name=label, pack=pack, vfile=vfile, index=index)


class VignetteFailure(Exception):
    pass


class VignetteItem(pytest.Item):
    def __init__(self, *, pack, vfile, index, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.pack, self.vfile, self.index = pack, vfile, index

    def runtest(self) -> None:
        from rxguard.engine.vignettes import run_vignette

        result = run_vignette(self.pack, self.vfile, self.index)
        if result.problems:
            raise VignetteFailure(result)

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        if isinstance(excinfo.value, VignetteFailure):
            result = excinfo.value.args[0]
            lines = [f"{result.path}:{result.line}: vignette {result.name!r} ({result.pack})"]
            lines += [f"  - {p}" for p in result.problems]
            return "\n".join(lines)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):  # type: ignore[no-untyped-def]
        return self.path, self.vfile.lines[self.index] - 1, f"vignette: {self.name}"
