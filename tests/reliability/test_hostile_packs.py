"""Malformed knowledge packs: the loader answers every one with a PackError, or loads it.

A pack is operator-installed data, but a broken file must still fail the way
``docs/packs.md`` promises — one :class:`PackError` naming file and line, and
``rxguard packs validate`` exiting 2 with no traceback — never a KeyError, a
RecursionError, a UnicodeDecodeError or a hang. Hypothesis mutates a copy of
the test pack: values replaced by the wrong type, huge numbers, deep nesting,
odd Unicode; keys deleted or added; characters and invalid bytes spliced into
the text; files truncated or emptied. Hostile YAML constructs (alias bombs,
Python object tags, deeply nested flow collections) are tried one by one in a
child process with a time limit.
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_db import full_run

from rxguard.errors import PackError
from rxguard.knowledge.loader import load_pack, read_yaml

pytestmark = pytest.mark.reliability
MINIPACK = Path(__file__).resolve().parents[1] / "fixtures" / "minipack"
FILES = sorted(p.name for p in MINIPACK.glob("*.yaml"))
ODD = "\u0000\u0007\t\u0085\u00a0\u200b\u200e\u202e\ufeff\uffff\U0001f489é漢字ـ"
TRIED: dict[str, int] = {"examples": 0, "loaded": 0, "pack_errors": 0}

odd_text = st.text(alphabet=st.sampled_from(ODD + "ab:-#&*!{}[]|>'\"%@`\n "), max_size=40)
hostile_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40), st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True), odd_text, st.just("x" * 200_000),
    st.lists(st.integers(), max_size=5), st.dictionaries(odd_text, st.integers(), max_size=3),
)  # fmt: skip
splices = st.one_of(
    odd_text.map(str.encode), st.sampled_from([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\t\t- x"]),
    st.sampled_from([b"&a [1]", b"*nowhere", b"!!python/object/apply:os.system ['true']", b"<<: *a", b"? [a]\n"]),
)  # fmt: skip


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _replace(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, new content) for one pack file."""
    name = draw(st.sampled_from(FILES))
    original = (MINIPACK / name).read_bytes()
    how = draw(st.sampled_from(["value", "delete", "add-key", "splice", "truncate", "empty", "deep"]))
    if how in ("value", "delete", "add-key"):
        data = read_yaml(MINIPACK / name)
        path = draw(st.sampled_from(_paths(data)))
        if how == "add-key":
            target = data
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                target[draw(odd_text)] = draw(hostile_values)
        else:
            data = _replace(data, path, draw(hostile_values), delete=how == "delete" and bool(path))
        return name, yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")
    if how == "splice":
        at = draw(st.integers(0, len(original)))
        return name, original[:at] + draw(splices) + original[at:]
    if how == "truncate":
        return name, original[: draw(st.integers(0, len(original)))]
    if how == "deep":
        depth = draw(st.integers(100, 20_000))
        return name, b"key: " + b"[" * depth + b"]" * depth + b"\n"
    return name, b""


@pytest.fixture(scope="module")
def pack_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("hostile-pack"))


@settings(max_examples=2000 if full_run() else 250, deadline=None, derandomize=not full_run(),
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(change=mutated_file())
def test_a_mutated_pack_loads_or_fails_with_a_pack_error(pack_copy: Path, change: tuple[str, bytes]) -> None:
    folder = pack_copy / "pack"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(MINIPACK, folder)
    name, content = change
    (folder / name).write_bytes(content)
    TRIED["examples"] += 1
    try:
        load_pack(folder)
        TRIED["loaded"] += 1
    except PackError as exc:
        TRIED["pack_errors"] += 1
        assert str(exc).strip(), "a PackError must say what is wrong"


def test_record_the_pack_figures(figures: Any) -> None:
    figures.record("hostile.packs", **TRIED, other_exceptions=0)


BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(9)
)
SPECIAL = {
    "alias bomb": BOMB,
    "python object tag": b"!!python/object/apply:os.system ['touch /tmp/rxguard-pwned']\n",
    "deep flow nesting": b"x: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "deep block nesting": b"".join(b"  " * i + b"k:\n" for i in range(5000)),
    "not utf-8": b"meta:\n  id: \xff\xfe\n",
    "control character": b"meta:\n  id: a\x07b\n",
    "huge document": b"- " + b"x" * (8 * 1024 * 1024) + b"\n",
}


def _load_each_in_child(folder: str, target: str, queue: Any) -> None:
    """Load the pack once per special case; say which case starts, then how it ended."""
    for case, content in SPECIAL.items():
        queue.put(("start", case))
        (Path(folder) / target).write_bytes(content)
        try:
            load_pack(Path(folder))
            outcome = "loaded"
        except PackError:
            outcome = "pack-error"
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {str(exc)[:200]}"
        queue.put((case, outcome))
    queue.put(("done", ""))


@pytest.mark.parametrize("target", ["rules.yaml", "pack.yaml"])
def test_hostile_yaml_is_refused_quickly(target: str, tmp_path: Path) -> None:
    """Every special case in one child process (a crash or a hang would otherwise take the test run down)."""
    folder = tmp_path / "pack"
    shutil.copytree(MINIPACK, folder)
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    child = context.Process(target=_load_each_in_child, args=(str(folder), target, queue))
    child.start()
    outcomes: dict[str, str] = {}
    current = ""
    while True:
        try:
            case, outcome = queue.get(timeout=30)
        except Exception:
            child.kill()
            pytest.fail(f"{current} in {target}: the loader hung or the process died (exit {child.exitcode})")
        if case == "done":
            break
        if case == "start":
            current = outcome
            continue
        outcomes[case] = outcome
    child.join(timeout=10)
    assert outcomes == dict.fromkeys(SPECIAL, "pack-error")
    assert not Path("/tmp/rxguard-pwned").exists()


def test_packs_validate_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(MINIPACK, folder)
    (folder / "rules.yaml").write_bytes(b"- id: broken\n  when: \xff\n")
    command = [str(Path(sys.executable).with_name("rxguard")), "packs", "validate", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("rxguard: error:") and "rules.yaml" in done.stderr
