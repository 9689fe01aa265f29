"""The banded, stratified risk model is pack data: any lab, any model name, one generic predicate."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.engine.model import CONTRACT_VERSION, DEPRECATED_STRATUM_KEY, stratum_of
from rxguard.errors import PackError
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import Pack, load_pack

MINIPACK = Path(__file__).parent / "fixtures" / "minipack"
AT = date(2026, 1, 5)


def _run(pack: Pack, labs: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    bundle = build_bundle({"age": 40, "labs": labs}, at=AT, drug="testdrug")
    facts = reader_for({"testdrug": pack}).read(bundle)
    return assess(pack, facts, at=AT, jurisdiction="US")


def _with_band_on(tmp_path: Path, test: str, *, rule_test: str | None = None) -> Path:
    """The test pack with its bands (and the rule that reads them) moved to another lab."""
    target = tmp_path / "pack"
    shutil.copytree(MINIPACK, target)
    risk = (target / "risk.yaml").read_text(encoding="utf-8")
    risk = risk.replace("test: anti-jcv-index\n  same_sample_as: anti-jcv-antibody\n", f"test: {test}\n")
    (target / "risk.yaml").write_text(
        risk.replace("risk_band: {test: anti-jcv-index,", f"risk_band: {{test: {test},"), encoding="utf-8"
    )
    rules = (target / "rules.yaml").read_text(encoding="utf-8")
    (target / "rules.yaml").write_text(
        rules.replace("risk_band: {test: anti-jcv-index,", f"risk_band: {{test: {rule_test or test},"),
        encoding="utf-8",
    )
    return target


@pytest.mark.parametrize(
    ("value", "band_fires"),
    [(0.9, True), (1.5, True), (0.5, False), (1.2, False), (2.0, False)],
)
def test_a_value_at_a_cut_off_is_at_the_boundary_whatever_lab_is_banded(
    tmp_path: Path, minipack: Pack, value: float, band_fires: bool
) -> None:
    moved = load_pack(_with_band_on(tmp_path, "alt"))
    original = _run(minipack, [{"test": "anti-jcv-index", "value": value, "on": "2025-12-20"}])
    renamed = _run(moved, [{"test": "alt", "value": value, "unit": "U/L", "high": 40, "on": "2025-12-20"}])
    for result in (original, renamed):
        assert (result.fired("testdrug.unverified-cutoff") is not None) is band_fires


def test_the_output_names_the_model_and_keeps_the_old_key_for_one_version(minipack: Pack) -> None:
    result = _run(minipack, [{"test": "anti-jcv-antibody", "result": "negative", "on": "2025-12-20"}])
    out = result.to_dict()
    assert out["contract"] == CONTRACT_VERSION == 2
    assert out["risk_stratum"]["model"] == "pml-risk"
    assert out["risk_stratum"]["model_title"] == "PML risk"
    assert out["risk_stratum"]["id"] == "negative"
    assert out[DEPRECATED_STRATUM_KEY] == out["risk_stratum"]


def test_a_stored_assessment_of_either_contract_gives_its_stratum() -> None:
    stratum = {"id": "negative", "title": "Anti-JCV negative"}
    assert stratum_of({DEPRECATED_STRATUM_KEY: stratum}) == stratum
    assert stratum_of({"risk_stratum": stratum, DEPRECATED_STRATUM_KEY: None}) == stratum
    assert stratum_of({"verdict": "ok"}) is None


def test_a_band_condition_on_a_lab_the_model_does_not_cut_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"is not the test risk\.yaml bands"):
        load_pack(_with_band_on(tmp_path, "alt", rule_test="ast"))


def test_bands_on_an_unknown_lab_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not a known lab key"):
        load_pack(_with_band_on(tmp_path, "no-such-lab"))


def test_every_rule_category_has_a_monograph_section() -> None:
    from typing import get_args

    from rxguard.druginfo.retrieval import RULE_SECTION
    from rxguard.knowledge.schema import Rule

    categories = set(get_args(Rule.model_fields["category"].annotation))
    assert categories == set(RULE_SECTION)
