"""Strict loading of knowledge packs.

YAML is read with ruamel.yaml, which refuses duplicate keys and remembers
line numbers; the data are then validated by the pydantic models in
:mod:`rxguard.knowledge.schema`. Every problem is reported as
``file:line: field: what was expected`` so a pack author never guesses.

Packs are found through the ``rxguard.packs`` entry-point group. The
built-in packs are registered there the same way a third-party pack would be,
so there is one loading path for all of them. The file types a pack may hold
are listed in :mod:`rxguard.knowledge.files`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from rxguard.errors import PackError
from rxguard.knowledge.files import PACK_FILES, VIGNETTE_DIR, VIGNETTE_MODEL, file_names, model_of
from rxguard.knowledge.labs import Lab, ProgramEvent, unit_problems
from rxguard.knowledge.schema import (
    Conflict,
    DosingSchedule,
    Exposure,
    Identity,
    MonitoringItem,
    PackMeta,
    Parameter,
    Question,
    RiskModel,
    Rule,
    Source,
    ValueSet,
    Vignette,
)

ENTRY_POINT_GROUP = "rxguard.packs"


@dataclass(frozen=True)
class VignetteFile:
    path: Path
    vignettes: tuple[Vignette, ...]
    lines: tuple[int, ...]


@dataclass(frozen=True)
class Pack:
    """A validated knowledge pack with lookup indices."""

    path: Path
    meta: PackMeta
    identity: Identity
    sources: dict[str, Source]
    valuesets: dict[str, ValueSet]
    rules: tuple[Rule, ...]
    parameters: dict[str, Parameter]
    conflicts: tuple[Conflict, ...]
    dosing: DosingSchedule
    monitoring: tuple[MonitoringItem, ...]
    questions: dict[str, Question]
    risk: RiskModel | None
    vignette_files: tuple[VignetteFile, ...]
    extras: dict[str, Any] = field(default_factory=dict)
    # How long an administration or dispense counts as current exposure (exposure.yaml).
    exposures: tuple[Exposure, ...] = ()
    # The pack's own labs (labs.yaml; the core labs need no entry) and program events (schedule.yaml).
    labs: dict[str, Lab] = field(default_factory=dict)
    events: dict[str, ProgramEvent] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta.name

    @functools.cached_property
    def rules_by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def vignettes(self) -> Iterator[tuple[VignetteFile, int, Vignette]]:
        for vfile in self.vignette_files:
            for index, vignette in enumerate(vfile.vignettes):
                yield vfile, index, vignette


def _yaml() -> Any:
    from ruamel.yaml import YAML  # only to name the line of a validation error

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


@functools.cache
def _strict_loader() -> Any:
    """libyaml-speed loading that still refuses duplicate keys (with their line).

    Made on first use: a process serving packs from the pack cache never reads YAML.
    """
    import yaml as pyyaml

    fast: Any = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)

    class _StrictLoader(fast):  # type: ignore[misc]
        pass

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise pyyaml.constructor.ConstructorError(
                    None,
                    None,
                    f"found duplicate key {key!r}; every key may appear only once in a mapping",
                    key_node.start_mark,
                )
            seen.add(key)
        mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
        return mapping

    _StrictLoader.add_constructor(pyyaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    # YAML 1.2 booleans: only true/false. PyYAML's YAML 1.1 default would read the
    # key ``on:`` (a lab date) or the answer ``no`` as booleans.
    _StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in fast.yaml_implicit_resolvers.items()
    }
    _StrictLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return _StrictLoader


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"{path}: cannot read the file ({exc.strerror}); check it exists") from exc
    except UnicodeDecodeError as exc:
        raise PackError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from exc


#: Deepest nesting of flow collections (``[``/``{``) a pack file may have. libyaml's composer
#: recurses in C and crashes the process (segmentation fault) somewhere past 20 000 levels;
#: real pack files stay below 20.
MAX_FLOW_DEPTH = 200
_NOT_FLOW = re.compile(r"[^\[\]{}]+")


def _flow_depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _NOT_FLOW.sub("", text):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def read_yaml(path: Path) -> Any:
    """Parse one YAML file fast (libyaml); parser errors become a PackError with the line."""
    import yaml as pyyaml

    text = _read_text(path)
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise PackError(f"{path}: brackets nested more than {MAX_FLOW_DEPTH} deep; a pack file never needs that")
    try:
        return pyyaml.load(text, Loader=_strict_loader())  # a SafeLoader subclass: no arbitrary objects
    except pyyaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise PackError(f"{path}:{line}: {exc.problem or exc.context or 'invalid YAML'}") from exc
    except pyyaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise PackError(f"{path}: {str(exc).splitlines()[0]}") from exc
    except RecursionError as exc:
        raise PackError(f"{path}: nested too deeply to read; flatten the structure") from exc


def _read_with_lines(path: Path) -> Any:
    """The same file through ruamel's round-trip loader, which keeps line numbers (error path only)."""
    from ruamel.yaml.error import MarkedYAMLError

    try:
        return _yaml().load(_read_text(path))
    except MarkedYAMLError:
        return None


def _line_of(data: Any, loc: tuple[int | str, ...]) -> int:
    """Best line number (1-based) for a pydantic error location inside ruamel data."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node, line = data, 1
    for part in loc:
        if isinstance(node, CommentedMap):
            key = "not" if part == "not_" else part
            if key in node:
                with_line = node.lc.key(key)
                line = with_line[0] + 1
                node = node[key]
                continue
            line = node.lc.line + 1
            break
        if isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
            continue
        break
    return line


def _format_errors(path: Path, data: Any, exc: ValidationError, prefix: tuple[Any, ...]) -> str:
    lines = []
    for error in exc.errors()[:10]:
        loc = prefix + tuple(error["loc"])
        field_path = ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "(top)"
        msg = error["msg"]
        if error["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling against docs/packs.md"
        elif error["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{path}:{_line_of(data, loc)}: {field_path}: {msg}")
    more = len(exc.errors()) - 10
    if more > 0:
        lines.append(f"... and {more} more problem(s) in {path}")
    return "\n".join(lines)


def _validate(path: Path, data: Any, model: Any, many: bool, prefix: tuple[str, ...] = ()) -> Any:
    """Validate ``data`` (found at ``prefix`` in the file); errors carry file, line and field."""
    try:
        if many:
            if not isinstance(data, list):
                raise PackError(f"{path}:1: expected a list of {model.__name__} entries")
            return _list_adapter(model).validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise PackError(_format_errors(path, _read_with_lines(path), exc, prefix)) from exc


@functools.cache
def _list_adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(list[model])


def _top_level_item_lines(path: Path) -> tuple[int, ...]:
    """Line of each top-level ``- `` item of a block-style YAML list (vignette files)."""
    lines = _read_text(path).splitlines()
    return tuple(number for number, line in enumerate(lines, start=1) if line.startswith("- "))


def _unique(path: Path, items: Iterable[Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if item.id in out:
            raise PackError(f"{path}: {what} id {item.id!r} is defined twice; ids must be unique")
        out[item.id] = item
    return out


def load_pack(path: Path, *, check_units: bool = True) -> Pack:
    """Load and validate one pack folder; raise PackError naming file, line and field.

    ``check_units`` also asks whether every lab unit is UCUM (seconds, for the UCUM registry);
    the packs a process serves from (:func:`load_all`) are loaded without it, since
    ``rxguard packs validate`` and the pack tests ask it before a pack ships.
    """
    path = Path(path)
    if not (path / "pack.yaml").is_file():
        raise PackError(f"{path}: not a knowledge pack (no pack.yaml); point to a pack folder")
    known = set(file_names())
    for child in sorted(path.iterdir()):
        if child.is_file() and child.suffix in (".yaml", ".yml") and child.name not in known:
            raise PackError(f"{child}: unknown pack file; expected one of {', '.join(sorted(known))}")

    loaded: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for spec in PACK_FILES:
        file_path = path / spec.name
        if not file_path.is_file():
            if spec.required:
                hint = "point to a pack folder" if spec.name == "pack.yaml" else f"every pack needs {spec.name}"
                raise PackError(f"{file_path}: missing; {hint}")
            if spec.attribute is not None:
                loaded[spec.attribute] = [] if spec.many else None
            continue
        if spec.sections:
            data = read_yaml(file_path)
            keys = [section.key for section in spec.sections]
            needed = {section.key for section in spec.sections if section.required}
            if not isinstance(data, dict) or not needed <= set(data) <= set(keys):
                optional = [key for key in keys if key not in needed]
                also = f" (and optionally {' and '.join(optional)})" if optional else ""
                raise PackError(
                    f"{file_path}:1: expected exactly these top-level keys: {' and '.join(sorted(needed))}{also}"
                )
            for section in spec.sections:
                if section.key not in data:
                    loaded[section.key] = [] if section.many else None
                    continue
                loaded[section.key] = _validate(
                    file_path, data[section.key], model_of(section.model), section.many, (section.key,)
                )
            continue
        value = _validate(file_path, read_yaml(file_path), model_of(spec.model), spec.many)
        if spec.attribute is None:
            extras[spec.name] = value
        else:
            loaded[spec.attribute] = value

    vignette_files = []
    vdir = path / VIGNETTE_DIR
    if vdir.is_dir():
        for vpath in sorted(vdir.glob("*.yaml")):
            raw = read_yaml(vpath)
            items = _validate(vpath, raw, model_of(VIGNETTE_MODEL), True)
            found = _top_level_item_lines(vpath)
            lines = tuple(found[i] if i < len(found) else 1 for i in range(len(items)))
            vignette_files.append(VignetteFile(vpath, tuple(items), lines))

    pack = Pack(
        path=path,
        meta=loaded["meta"],
        identity=loaded["identity"],
        sources=_unique(path / "sources.yaml", loaded["sources"], "source"),
        valuesets=_unique(path / "valuesets.yaml", loaded["valuesets"], "value set"),
        rules=tuple(loaded["rules"]),
        parameters=_unique(path / "parameters.yaml", loaded["parameters"], "parameter"),
        conflicts=tuple(loaded["conflicts"]),
        dosing=loaded["dosing"],
        monitoring=tuple(loaded["monitoring"]),
        questions=_unique(path / "questions.yaml", loaded["questions"], "question"),
        risk=loaded["risk"],
        vignette_files=tuple(vignette_files),
        extras=extras,
        exposures=tuple(_unique(path / "exposure.yaml", loaded["exposures"], "exposure").values()),
        labs=_unique(path / "labs.yaml", loaded["labs"], "lab"),
        events=_unique(path / "schedule.yaml", loaded["events"], "event"),
    )
    problems = check_references(pack)
    if check_units:
        problems += unit_problems(pack.labs, path / "labs.yaml")
    if problems:
        raise PackError("\n".join(problems))
    return pack


def check_references(pack: Pack) -> list[str]:
    """Cross-file integrity: every id a pack mentions must be defined in it."""
    # Imported here: the referential checks need the lab catalogue from facts,
    # and facts must stay importable without knowledge.
    from rxguard.knowledge.references import find_reference_problems

    return find_reference_problems(pack)


def discover_pack_paths() -> dict[str, Path]:
    """Pack name -> folder, for every pack registered under the entry-point group."""
    found: dict[str, Path] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        target = ep.load()
        found[ep.name] = Path(target() if callable(target) else target)
    if not found:  # running from a source tree that was never installed
        from rxguard import packs as builtin

        found = {name: Path(builtin.__file__).parent / name for name in builtin.BUILTIN}
    return found


@functools.lru_cache(maxsize=1)
def load_all() -> dict[str, Pack]:
    """Every registered pack, loaded once per process (from the pack cache when a pack has not changed)."""
    from rxguard.knowledge import pack_cache

    return {name: pack_cache.cached(path, _load_served, Pack) for name, path in sorted(discover_pack_paths().items())}


def _load_served(path: Path) -> Pack:
    return load_pack(path, check_units=False)


def get_pack(name: str) -> Pack:
    packs = load_all()
    try:
        return packs[name]
    except KeyError:
        raise PackError(f"no pack named {name!r}; installed packs: {', '.join(packs)}") from None


def as_plain(data: Any) -> Any:
    """ruamel containers -> plain dict/list (for JSON output of raw pack data)."""
    if isinstance(data, dict):
        return {str(k): as_plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [as_plain(v) for v in data]
    return cast(Any, data)
