"""labs.yaml and schedule.yaml events: what the loader refuses, and the line it names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import FIXTURES

from rxguard.errors import PackError
from rxguard.knowledge.loader import load_pack

CONFOUNDED_RULE = """\
- id: testdrug.antibody-confounded
  title: Antibody drawn too soon after plasma exchange
  category: lab
  when: {lab_confounded: {test: anti-jcv-antibody, after_procedure: plasma-exchange, procedure_within: P2W}}
  severity: caution
  message: Too soon.
  action: Repeat later.
  basis: label
  jurisdictions: [US, EU]
  sources: [{source: T1, section: "§5"}]
"""
PLASMA_EXCHANGE = """\
- id: plasma-exchange
  title: Plasma exchange
  kind: procedure
  names: [plasma exchange]
  sources: [{source: T1, section: "§5"}]
"""
CONFOUNDER = """\
  confounders:
    - {after_procedure: plasma-exchange, within: P2W, sources: [{source: T1, section: "§5"}]}
"""


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    target = tmp_path / "testdrug"
    shutil.copytree(FIXTURES / "minipack", target)
    return target


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(text)


def test_a_unit_that_is_not_ucum_names_file_line_and_field(pack_dir: Path) -> None:
    append(pack_dir / "labs.yaml", "- {id: titre, display: Titre, kind: numeric, unit: mg per litre, sources: []}\n")
    with pytest.raises(PackError, match=r"labs\.yaml:\d+: .*") as error:
        load_pack(pack_dir)
    assert "sources" in str(error.value)
    (pack_dir / "labs.yaml").write_text(
        (pack_dir / "labs.yaml").read_text().replace("sources: []", 'sources: [{source: T1, section: "§5"}]')
    )
    with pytest.raises(PackError, match="not a UCUM unit"):
        load_pack(pack_dir)


def test_a_lab_declared_twice_or_a_core_lab_of_another_kind_is_refused(pack_dir: Path) -> None:
    append(
        pack_dir / "labs.yaml", '- {id: alt, display: ALT, kind: qualitative, sources: [{source: T1, section: "§5"}]}\n'
    )
    with pytest.raises(PackError, match=r"labs\.yaml: lab 'alt' is numeric in U/L \(core\)"):
        load_pack(pack_dir)


def test_a_core_lab_may_gain_names_from_a_pack(pack_dir: Path) -> None:
    append(
        pack_dir / "labs.yaml",
        '- {id: alt, display: ALT, kind: numeric, unit: U/L, names: [SGPT], sources: [{source: T1, section: "§5"}]}\n',
    )
    assert "alt" in load_pack(pack_dir).labs


def test_a_rule_confounder_must_be_the_one_labs_yaml_declares(pack_dir: Path) -> None:
    append(pack_dir / "rules.yaml", CONFOUNDED_RULE)
    append(pack_dir / "valuesets.yaml", PLASMA_EXCHANGE)
    with pytest.raises(PackError, match=r"is not a confounder labs\.yaml declares"):
        load_pack(pack_dir)
    labs = (pack_dir / "labs.yaml").read_text()
    first_end = labs.index("- id: anti-jcv-index")
    (pack_dir / "labs.yaml").write_text(labs[:first_end] + CONFOUNDER + labs[first_end:])
    pack = load_pack(pack_dir)
    assert [c.within for c in pack.labs["anti-jcv-antibody"].confounders] == ["P2W"]
    (pack_dir / "rules.yaml").write_text(
        (pack_dir / "rules.yaml").read_text().replace("procedure_within: P2W", "procedure_within: P3W")
    )
    with pytest.raises(PackError, match=r"is not a confounder labs\.yaml declares"):
        load_pack(pack_dir)


def test_a_confounder_names_a_value_set_of_its_kind(pack_dir: Path) -> None:
    labs = (pack_dir / "labs.yaml").read_text()
    first_end = labs.index("- id: anti-jcv-index")
    (pack_dir / "labs.yaml").write_text(labs[:first_end] + CONFOUNDER + labs[first_end:])
    with pytest.raises(PackError, match="'plasma-exchange', which is not a procedure value set"):
        load_pack(pack_dir)


def test_a_vignette_lab_key_is_checked_at_load(pack_dir: Path) -> None:
    (pack_dir / "vignettes").mkdir()
    (pack_dir / "vignettes" / "labs.yaml").write_text(
        "- name: A lab no catalogue has.\n  at: 2026-01-05\n  patient: {labs: [{test: titre-x, value: 3}]}\n"
        "  expect: {does_not_fire: [testdrug.alt-3x]}\n"
    )
    with pytest.raises(PackError, match=r"labs\.yaml:1: vignette .*'titre-x' is not a known lab key"):
        load_pack(pack_dir)


def test_evidence_must_be_a_lab_or_a_declared_event(pack_dir: Path) -> None:
    schedule = (pack_dir / "schedule.yaml").read_text()
    (pack_dir / "schedule.yaml").write_text(
        schedule.replace("events:\n  - {id: prescriber-assessment, title: Prescriber assessment}\n", "")
    )
    with pytest.raises(PackError, match="evidence 'prescriber-assessment' is neither a lab key"):
        load_pack(pack_dir)
    (pack_dir / "schedule.yaml").write_text(schedule.replace("events:", "event:"))
    with pytest.raises(PackError, match="expected exactly these top-level keys: dosing and monitoring"):
        load_pack(pack_dir)


def test_a_service_loads_packs_without_the_unit_check_and_validation_asks_it(pack_dir: Path) -> None:
    """``load_all`` (what a service serves from) skips the UCUM question; ``load_pack`` asks it."""
    append(
        pack_dir / "labs.yaml",
        '- {id: titre, display: Titre, kind: numeric, unit: mg per litre, sources: [{source: T1, section: "§5"}]}\n',
    )
    assert load_pack(pack_dir, check_units=False).labs["titre"].unit == "mg per litre"
    with pytest.raises(PackError, match="lab titre: unit 'mg per litre' is not a UCUM unit"):
        load_pack(pack_dir)
