"""The pack cache: a pack read once is served from the cache until any of its files changes.

The cache only speeds a start up: a changed pack file is read again, and a cache file
that is corrupt, cut short, writable by others or cannot be written is ignored.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from rxguard.errors import PackError
from rxguard.knowledge import pack_cache
from rxguard.knowledge.loader import Pack, load_all, load_pack

FIXTURES = Path(__file__).parent / "fixtures"


class CountingLoader:
    """The real loader, counting how often the YAML is read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, path: Path) -> Pack:
        self.reads += 1
        return load_pack(path, check_units=False)


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    target = tmp_path / "packs" / "testdrug"
    shutil.copytree(FIXTURES / "minipack", target)
    return target


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RXGUARD_CACHE_DIR", str(folder))
    monkeypatch.delenv("RXGUARD_PACK_CACHE", raising=False)
    return folder / "packs"


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.pickle"))


def _message(pack: Pack, rule_id: str) -> str:
    return str(pack.rules_by_id[rule_id].message)


def test_a_pack_read_once_is_served_from_the_cache(pack_dir: Path, cache: Path) -> None:
    loader = CountingLoader()
    first = pack_cache.cached(pack_dir, loader, Pack)
    second = pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 1
    assert len(_files(cache)) == 1
    assert second.meta == first.meta
    assert [r.id for r in second.rules] == [r.id for r in first.rules]
    assert second.path == pack_dir


def test_a_changed_pack_file_is_read_again(pack_dir: Path, cache: Path) -> None:
    loader = CountingLoader()
    before = pack_cache.cached(pack_dir, loader, Pack)
    assert _message(before, "testdrug.immunosuppressant") == "Immunosuppressant."
    rules = pack_dir / "rules.yaml"
    rules.write_text(rules.read_text().replace("message: Immunosuppressant.", "message: Immunosuppressant now."))
    after = pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 2
    assert _message(after, "testdrug.immunosuppressant") == "Immunosuppressant now."
    assert len(_files(cache)) == 1  # the file kept for the old contents is gone


def test_a_new_file_in_the_pack_folder_is_read_again(pack_dir: Path, cache: Path) -> None:
    loader = CountingLoader()
    pack_cache.cached(pack_dir, loader, Pack)
    (pack_dir / "exposure.yaml").write_text("[]\n")
    pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 2


@pytest.mark.parametrize("garbage", [b"", b"not a pickle at all", b"\x80\x05\x95\xff\xff"])
def test_a_corrupted_cache_file_is_ignored_and_replaced(pack_dir: Path, cache: Path, garbage: bytes) -> None:
    loader = CountingLoader()
    pack_cache.cached(pack_dir, loader, Pack)
    (kept,) = _files(cache)
    kept.write_bytes(garbage)
    again = pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 2
    assert _message(again, "testdrug.immunosuppressant") == "Immunosuppressant."
    assert kept.read_bytes() != garbage  # rewritten whole
    pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 2


def test_a_cache_file_cut_short_is_ignored(pack_dir: Path, cache: Path) -> None:
    loader = CountingLoader()
    pack_cache.cached(pack_dir, loader, Pack)
    (kept,) = _files(cache)
    kept.write_bytes(kept.read_bytes()[: kept.stat().st_size // 2])
    assert pack_cache.cached(pack_dir, loader, Pack).meta.name == "testdrug"
    assert loader.reads == 2


def test_a_cache_file_others_may_write_is_not_read(pack_dir: Path, cache: Path) -> None:
    loader = CountingLoader()
    pack_cache.cached(pack_dir, loader, Pack)
    (kept,) = _files(cache)
    kept.chmod(kept.stat().st_mode | stat.S_IWOTH)
    pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 2


def test_a_cache_that_cannot_be_written_falls_back_to_yaml(
    pack_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RXGUARD_CACHE_DIR", str(blocker))  # its "packs" folder can never be made
    loader = CountingLoader()
    assert pack_cache.cached(pack_dir, loader, Pack).meta.name == "testdrug"
    assert pack_cache.cached(pack_dir, loader, Pack).meta.name == "testdrug"
    assert loader.reads == 2


def test_the_cache_can_be_turned_off(pack_dir: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXGUARD_PACK_CACHE", "off")
    loader = CountingLoader()
    pack_cache.cached(pack_dir, loader, Pack)
    pack_cache.cached(pack_dir, loader, Pack)
    assert loader.reads == 2
    assert not cache.exists()


def test_a_broken_pack_is_never_kept(pack_dir: Path, cache: Path) -> None:
    (pack_dir / "rules.yaml").write_text("- id: [unclosed\n")
    with pytest.raises(PackError):
        pack_cache.cached(pack_dir, CountingLoader(), Pack)
    assert _files(cache) == []


def test_the_same_contents_in_another_folder_keep_their_own_paths(pack_dir: Path, cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "testdrug"
    shutil.copytree(pack_dir, other)
    loader = CountingLoader()
    assert pack_cache.cached(pack_dir, loader, Pack).path == pack_dir
    assert pack_cache.cached(other, loader, Pack).path == other


def test_served_packs_from_the_cache_equal_packs_read_from_yaml(cache: Path) -> None:
    load_all.cache_clear()
    try:
        first = load_all()
        load_all.cache_clear()
        served = load_all()
    finally:
        load_all.cache_clear()
    assert _files(cache), "load_all keeps what it read"
    assert sorted(served) == sorted(first)
    for name, pack in served.items():
        assert pack.rules == first[name].rules
        assert pack.identity == first[name].identity
        assert pack.extras.keys() == first[name].extras.keys()
