"""The program's own records reach the clinical check at the gate, as facts with their provenance."""

from __future__ import annotations

from datetime import timedelta

from personas import NO, World
from test_infusion import infuse
from test_overrides import visit

from rxguard.program import adverse_events, authorization, enrollment, monitoring


def _check(row, check_id: str) -> dict:  # type: ignore[no-untyped-def]
    return next(c for c in authorization.checks_of(row) if c["id"] == check_id)


def test_a_patient_suspended_for_suspected_pml_never_passes_the_clinical_check(world: World) -> None:
    first = world.at - timedelta(days=28)
    with world.tx() as s:
        row = authorization.authorize_dose(s, site_key="site_north", patient_key="pat_amy", at=first, answers=NO,
                                           actor="nurse_kim")  # fmt: skip
    infuse(world, row)
    with world.tx() as s:
        adverse_events.report_adverse_event(
            s, program_id="touch", patient_key="pat_amy", kind="pml-suspected", serious=True,
            seriousness=["hospitalisation"], onset_on=(world.at - timedelta(days=3)).date(), outcome="not-recovered",
            description="new weakness", at=world.at - timedelta(days=2), actor="dr_ada",
        )  # fmt: skip
    with world.tx() as s:
        row = authorization.authorize_dose(s, site_key="site_north", patient_key="pat_amy", at=world.at, answers=NO,
                                           actor="nurse_kim")  # fmt: skip
        assert row.decision == "do-not-infuse"
        clinical = _check(row, "clinical-assessment")
        assert clinical["outcome"] != "pass", clinical
        assert "natalizumab.pml-suggestive-signs" in clinical["reason"]
        evidence = [e for f in row.assessment["findings"] for e in f.get("evidence", [])]
        assert any("recorded in the program on" in e for e in evidence), evidence


def test_the_same_patient_without_the_report_passes_it(world: World) -> None:
    row_id, _ = visit(world, "pat_fine", "overridable", world.at)
    with world.tx() as s:
        row = s.get(authorization.Authorization, row_id)
        assert "pml-suggestive-signs" not in _check(row, "clinical-assessment")["reason"]


def test_antibody_results_recorded_in_the_program_are_read_by_the_rules(world: World) -> None:
    with world.tx() as s:
        enrolled = enrollment.enrollment_of(s, "pat_amy", "touch")
        for weeks in (10, 2):
            on = world.at - timedelta(weeks=weeks)
            monitoring.add_event(s, enrolled, kind="anti-natalizumab-antibody", on=on.date(), at=on, actor="dr_ada",
                                 result="positive")  # fmt: skip
    with world.tx() as s:
        row = authorization.authorize_dose(s, site_key="site_north", patient_key="pat_amy", at=world.at, answers=NO,
                                           actor="nurse_kim")  # fmt: skip
        rules = {f["rule"] for f in row.assessment["findings"]}
    assert "natalizumab.persistent-anti-natalizumab-antibodies" in rules


def test_free_text_results_are_not_read_as_positive_or_negative(world: World) -> None:
    with world.tx() as s:
        enrolled = enrollment.enrollment_of(s, "pat_amy", "touch")
        for weeks in (10, 2):
            on = world.at - timedelta(weeks=weeks)
            monitoring.add_event(s, enrolled, kind="anti-natalizumab-antibody", on=on.date(), at=on, actor="dr_ada",
                                 result="not positive, sample haemolysed")  # fmt: skip
    with world.tx() as s:
        row = authorization.authorize_dose(s, site_key="site_north", patient_key="pat_amy", at=world.at, answers=NO,
                                           actor="nurse_kim")  # fmt: skip
        rules = {f["rule"] for f in row.assessment["findings"]}
    assert "natalizumab.persistent-anti-natalizumab-antibodies" not in rules
