"""rxguard.testing runs the vignettes of a pack that lives outside rxguard, with plain pytest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rxguard.knowledge.files import PACK_FILES, file_names, model_of
from rxguard.knowledge.loader import load_all

pytest_plugins = ["pytester"]

MINIPACK = Path(__file__).parent / "fixtures" / "minipack"

VIGNETTES = """\
- name: An immunosuppressant holds the dose in the US.
  at: 2026-01-05
  jurisdiction: US
  patient:
    age: 40
    medications: [{text: azathioprine 50 mg tablet, status: active}]
  expect:
    verdict: hold
    fires: [testdrug.immunosuppressant]

- name: Without one it does not fire.
  at: 2026-01-05
  jurisdiction: US
  patient: {age: 40}
  expect:
    does_not_fire: [testdrug.immunosuppressant]

- name: A wrong expectation fails and says why.
  at: 2026-01-05
  jurisdiction: US
  patient: {age: 40}
  expect:
    fires: [testdrug.immunosuppressant]
"""


# A lab only the outside pack declares, read by a rule of its own: the plugin reads the vignette's
# patient with the pack's labs.yaml, so the result counts although no installed pack knows the lab.
OWN_LAB = """\
- id: example-titre
  display: Example titre
  kind: numeric
  unit: mg/L
  names: [example antibody titre]
  sources: [{source: T1, section: "§5"}]
"""
OWN_RULE = """\
- id: testdrug.example-titre-high
  title: Example titre above 10 mg/L
  category: lab
  when: {lab: {test: example-titre, value_gt: 10}}
  severity: caution
  message: High titre.
  action: Tell the prescriber.
  basis: label
  jurisdictions: [US, EU]
  sources: [{source: T1, section: "§5"}]
"""
OWN_LAB_VIGNETTES = """\
- name: A titre of 2 g/dL (20 000 mg/L) is above 10 mg/L.
  at: 2026-01-05
  jurisdiction: US
  patient:
    age: 40
    labs: [{test: example-titre, value: 2, unit: g/dL, on: 2026-01-02}]
  expect:
    fires: [testdrug.example-titre-high]

- name: A titre of 5 mg/L is not.
  at: 2026-01-05
  jurisdiction: US
  patient:
    age: 40
    labs: [{test: example-titre, value: 5, unit: mg/L, on: 2026-01-02}]
  expect:
    does_not_fire: [testdrug.example-titre-high]
"""


@pytest.fixture
def outside_pack(pytester: pytest.Pytester) -> Path:
    """A pack repository of its own: the test pack plus a vignettes folder, and a conftest enabling the plugin."""
    pack = pytester.path / "testdrug"
    shutil.copytree(MINIPACK, pack)
    (pack / "vignettes").mkdir()
    (pack / "vignettes" / "interactions.yaml").write_text(VIGNETTES, encoding="utf-8")
    pytester.makeconftest('pytest_plugins = ["rxguard.testing"]\n')
    return pack


def test_outside_pack_vignettes_run_as_pytest_items(pytester: pytest.Pytester, outside_pack: Path) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "addopts=", str(outside_pack))
    result.assert_outcomes(passed=2, failed=1)
    line = VIGNETTES.splitlines().index("- name: A wrong expectation fails and says why.") + 1
    result.stdout.fnmatch_lines([f"*interactions.yaml:{line}: vignette 'A wrong expectation fails and says why.'*"])
    result.stdout.fnmatch_lines(["*rule testdrug.immunosuppressant did not fire*"])


def test_outside_pack_reads_its_own_labs(pytester: pytest.Pytester, outside_pack: Path) -> None:
    with (outside_pack / "labs.yaml").open("a", encoding="utf-8") as labs:
        labs.write(OWN_LAB)
    with (outside_pack / "rules.yaml").open("a", encoding="utf-8") as rules:
        rules.write(OWN_RULE)
    (outside_pack / "vignettes" / "interactions.yaml").unlink()
    (outside_pack / "vignettes" / "labs.yaml").write_text(OWN_LAB_VIGNETTES, encoding="utf-8")
    assert "example-titre" not in {key for pack in load_all().values() for key in pack.labs}
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "addopts=", str(outside_pack))
    result.assert_outcomes(passed=2)


def test_plugin_on_the_command_line_collects_each_vignette(pytester: pytest.Pytester, outside_pack: Path) -> None:
    (pytester.path / "conftest.py").unlink()
    result = pytester.runpytest_subprocess(
        "-p", "rxguard.testing", "-o", "addopts=", "--collect-only", "-q", str(outside_pack)
    )
    result.stdout.fnmatch_lines(["*interactions.yaml::An immunosuppressant holds the dose in the US.*"])
    assert result.ret == 0


def test_without_the_plugin_nothing_is_collected(pytester: pytest.Pytester, outside_pack: Path) -> None:
    (pytester.path / "conftest.py").unlink()
    result = pytester.runpytest_subprocess("-o", "addopts=", "--collect-only", "-q", str(outside_pack))
    assert "interactions.yaml" not in result.stdout.str()


def test_every_pack_file_type_is_listed_once_with_an_importable_model() -> None:
    names = file_names()
    assert len(names) == len(set(names))
    for spec in PACK_FILES:
        models = [section.model for section in spec.sections] or [spec.model]
        for model in models:
            assert hasattr(model_of(model), "model_validate"), spec.name


def test_every_file_in_the_builtin_packs_is_a_listed_type() -> None:
    for pack in load_all().values():
        found = {child.name for child in pack.path.iterdir() if child.suffix == ".yaml"}
        assert found <= set(file_names()), pack.name
        assert {"monograph.yaml", "program.yaml"} & found <= set(pack.extras)
