"""The condition language is one discriminated union: each node class owns its behaviour.

Adding a predicate is adding one class registered with ``@predicate``: its fields,
its compiled closure, its trigger keys and its reference checks. These tests check
that every registered class does provide each part itself, that the union and the
documented keys follow the registry, and that a class registered from outside
(a toy predicate, in a fresh interpreter) is validated, checked against the pack
and assessed with no other change.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from tests.conftest import FIXTURES

from rxguard.knowledge import schema
from rxguard.knowledge.schema import KINDS, PREDICATES, Condition, Node

DOCS = Path(__file__).resolve().parents[1] / "docs" / "packs.md"


@pytest.mark.parametrize("key", list(PREDICATES))
def test_every_node_class_owns_compile_triggers_and_reference_checks(key: str) -> None:
    cls = PREDICATES[key]
    assert issubclass(cls, Node) and cls.key == key
    for method in ("compile", "triggers", "problems"):
        assert method in vars(cls), f"{cls.__name__} ({key}) does not define {method} itself"


def test_the_keys_the_loader_accepts_are_the_registry() -> None:
    assert tuple(PREDICATES) == KINDS
    adapter = TypeAdapter(Condition)
    with pytest.raises(ValidationError, match="unknown condition 'no_such_thing'"):
        adapter.validate_python({"no_such_thing": {}})
    # Each registered key is documented for pack authors.
    text = DOCS.read_text(encoding="utf-8")
    undocumented = [key for key in PREDICATES if f"`{key}" not in text]
    assert not undocumented, f"docs/packs.md does not describe {undocumented}"


def test_a_key_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already taken"):

        @schema.predicate("lab")
        class Other(schema.Predicate):  # pragma: no cover - refused at registration
            test: str


TOY = textwrap.dedent(
    '''
    import shutil, sys
    from collections.abc import Iterator
    from datetime import date
    from pathlib import Path

    from rxguard.errors import PackError
    from rxguard.knowledge.schema import Predicate, predicate

    @predicate("initials")
    class Initials(Predicate):
        """Holds for a female patient when ``letter`` is F (a toy, for this test only)."""

        letter: str

        def compile(self):
            letter = self.letter

            def pred(ctx):
                return [f"initial {letter}"] if ctx.facts.sex == "female" and letter == "F" else None

            return pred

        def triggers(self):
            return None

        def problems(self, pack, where) -> Iterator[str]:
            if len(self.letter) != 1:
                yield f"{where}: initials.letter {self.letter!r} is not one letter"

    from rxguard.engine import assess, reader_for
    from rxguard.facts.builder import build_bundle
    from rxguard.knowledge.loader import load_pack

    target = Path(sys.argv[2]) / "testdrug"
    shutil.copytree(Path(sys.argv[1]), target)
    rules = target / "rules.yaml"
    text = rules.read_text()
    toy_rule = """- id: testdrug.toy-initials
      title: Toy predicate
      category: interaction
      when: {all: [{not: {age: {lt: 1}}}, {initials: {letter: LETTER}}]}
      severity: caution
      message: Toy.
      action: None.
      basis: label
      jurisdictions: [US, EU]
      sources: [{source: T1, section: "§4"}]
    """
    rules.write_text(text + toy_rule.replace("LETTER", "F"))
    pack = load_pack(target)
    at = date(2026, 1, 5)
    for sex, expected in (("female", True), ("male", False)):
        bundle = build_bundle({"sex": sex, "birth_date": "1980-01-01"}, at=at, drug="testdrug")
        facts = reader_for({"testdrug": pack}).read(bundle)
        fired = {f.rule_id for f in assess(pack, facts, at=at).findings}
        assert ("testdrug.toy-initials" in fired) is expected, (sex, fired)
    rules.write_text(text + toy_rule.replace("LETTER", "FX"))
    try:
        load_pack(target)
    except PackError as exc:
        assert "initials.letter 'FX' is not one letter" in str(exc), exc
    else:
        raise AssertionError("the toy's own reference check did not run")
    rules.write_text(text + toy_rule.replace("{initials: {letter: LETTER}}", "{initials: {lettre: F}}"))
    try:
        load_pack(target)
    except PackError as exc:
        assert "initials.lettre" in str(exc), exc
    else:
        raise AssertionError("the toy's fields are not validated")
    print("ok")
    '''
)


def test_a_predicate_registered_in_one_class_works_end_to_end(tmp_path: Path) -> None:
    """Register, validate, check references and assess a new predicate with no other change."""
    done = subprocess.run(
        [sys.executable, "-c", TOY, str(FIXTURES / "minipack"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
