"""Engine semantics on a small test pack: verdicts, jurisdictions, review flags, evidence."""

from __future__ import annotations

from datetime import date

MS = {"age": 40, "sex": "female"}


def fired(assessment):  # type: ignore[no-untyped-def]
    return {f.rule_id for f in assessment.findings}


def test_it_reports_ok_when_no_rule_fires(run_mini) -> None:  # type: ignore[no-untyped-def]
    result = run_mini(MS, jurisdiction="US")
    assert result.verdict == "ok"
    assert fired(result) == {"testdrug.no-immunosuppressant-info"}


def test_resolved_pml_still_counts_as_pml_ever(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {
        **MS,
        "conditions": [
            {"text": "Progressive multifocal leukoencephalopathy", "onset": "2019-01-01", "abated": "2019-09-01"}
        ],
    }
    result = run_mini(patient, jurisdiction="US")
    assert result.verdict == "contraindicated"
    finding = result.fired("testdrug.pml-history")
    assert finding is not None
    assert "resolved 2019-09-01" in finding.evidence[0]
    assert finding.sources[0].id == "T1" and finding.sources[0].section == "§4"


def test_pml_by_snomed_code_without_text(run_mini) -> None:  # type: ignore[no-untyped-def]
    result = run_mini({**MS, "conditions": [{"code": "sct|22255007"}]}, jurisdiction="EU")
    assert result.verdict == "contraindicated"


def test_per_jurisdiction_severity_and_stricter_without_jurisdiction(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "medications": [{"text": "Azathioprine 50 MG Oral Tablet", "start": "2025-01-01"}]}
    assert run_mini(patient, jurisdiction="US").verdict == "hold"
    assert run_mini(patient, jurisdiction="EU").verdict == "contraindicated"
    assert run_mini(patient, jurisdiction=None).verdict == "contraindicated"


def test_atc_codes_match_by_prefix(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "medications": [{"code": "atc|L04AX01", "start": "2025-01-01"}]}
    assert "testdrug.immunosuppressant" in fired(run_mini(patient, jurisdiction="US"))


def test_a_stopped_medication_is_not_concomitant(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {
        **MS,
        "medications": [{"text": "azathioprine", "start": "2024-01-01", "end": "2025-06-01", "status": "completed"}],
    }
    assert "testdrug.immunosuppressant" not in fired(run_mini(patient, jurisdiction="US"))


def test_rules_outside_the_jurisdiction_do_not_fire(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "conditions": [{"text": "Carcinoma of breast"}]}
    assert run_mini(patient, jurisdiction="US").verdict == "ok"
    assert run_mini(patient, jurisdiction="EU").verdict == "contraindicated"
    assert run_mini(patient).verdict == "contraindicated"


def test_excluded_names_remove_the_tag(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "conditions": [{"text": "Basal cell carcinoma of skin"}]}
    assert "testdrug.malignancy-eu" not in fired(run_mini(patient, jurisdiction="EU"))


def test_it_holds_the_dose_when_alt_is_3x_uln_and_says_why(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "labs": [{"test": "alt", "value": 120, "unit": "U/L", "high": 40, "on": "2026-01-02"}]}
    result = run_mini(patient, jurisdiction="US")
    assert result.verdict == "hold"
    finding = result.fired("testdrug.alt-3x")
    assert finding is not None and finding.basis == "seed" and finding.protocol
    assert finding.evidence == ("ALT 120 U/L on 2026-01-02; ULN 40 U/L (reference range); 3.0× ULN",)


def test_alt_just_below_3x_uln_does_not_fire(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "labs": [{"test": "alt", "value": 119, "unit": "U/L", "high": 40, "on": "2026-01-02"}]}
    assert run_mini(patient, jurisdiction="US").verdict == "ok"


def test_enzymes_in_microkatal_are_converted(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "labs": [{"test": "ast", "value": 2.0, "unit": "ukat/L", "high": 0.6, "on": "2026-01-02"}]}
    finding = run_mini(patient, jurisdiction="US").fired("testdrug.alt-3x")
    assert finding is not None and "AST 120 U/L" in finding.evidence[0] and "3.3× ULN" in finding.evidence[0]


def test_without_a_reference_range_the_default_uln_is_used_and_said(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "labs": [{"test": "alt", "value": 150, "unit": "U/L", "on": "2026-01-02"}]}
    unconfigured = run_mini(patient, jurisdiction="US")
    gap = unconfigured.fired("testdrug.alt-3x")
    assert gap is not None and gap.could_not_verify and "no reference range" in gap.evidence[0]
    assert gap.effective_severity == "hold", "a lab gate that could not be checked holds the dose"
    assert unconfigured.coverage.could_not_verify == (gap,)
    configured = run_mini(patient, jurisdiction="US", default_ulns={"alt": 40.0})
    finding = configured.fired("testdrug.alt-3x")
    assert finding is not None and "configured default" in finding.evidence[0]


def test_protocol_rules_can_be_switched_off(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "labs": [{"test": "alt", "value": 200, "unit": "U/L", "high": 40, "on": "2026-01-02"}]}
    result = run_mini(patient, jurisdiction="US", protocol_rules={"testdrug.alt-3x": False})
    assert result.verdict == "ok"


def test_latest_lab_wins_and_entered_in_error_is_ignored(run_mini) -> None:  # type: ignore[no-untyped-def]
    labs = [
        {"test": "alt", "value": 200, "unit": "U/L", "high": 40, "on": "2025-10-01"},
        {"test": "alt", "value": 30, "unit": "U/L", "high": 40, "on": "2025-12-01"},
        {"test": "alt", "value": 300, "unit": "U/L", "high": 40, "on": "2025-12-20", "status": "entered-in-error"},
    ]
    assert run_mini({**MS, "labs": labs}, jurisdiction="US").verdict == "ok"


def test_a_needs_review_finding_never_contraindicates_and_never_counts_below_hold(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "labs": [{"test": "anti-jcv-index", "value": 1.5, "on": "2025-12-01"}]}
    result = run_mini(patient, jurisdiction="US")
    finding = result.fired("testdrug.unverified-cutoff")
    assert finding is not None
    assert finding.severity == "contraindicated" and finding.effective_severity == "hold" and finding.needs_review
    assert result.verdict == "hold"


def test_diluted_bag_limit_follows_jurisdiction_and_label_date(run_mini) -> None:  # type: ignore[no-untyped-def]
    prep = {"prepared_at": "2026-01-04T08:00", "storage": "refrigerated", "infusion_start_at": "2026-01-05T14:00"}
    context = {"preparation": prep}
    assert run_mini(MS, jurisdiction="US", context=context).fired("testdrug.bag-expired") is None
    eu = run_mini(MS, jurisdiction="EU", context=context).fired("testdrug.bag-expired")
    assert eu is not None and "30.0 h (limit 24 h)" in eu.evidence[0]
    old = {"preparation": {**prep, "prepared_at": "2020-01-04T08:00", "infusion_start_at": "2020-01-04T18:00"}}
    assert run_mini(MS, at=date(2020, 1, 4), jurisdiction="US", context=old).fired("testdrug.bag-expired") is not None
    assert run_mini(MS, jurisdiction=None, context=context).fired("testdrug.bag-expired") is not None


def test_dose_interval_counts_program_and_fhir_infusions(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "infusions": {"count": 3, "last": "2025-12-20"}}
    result = run_mini(patient, jurisdiction="US")
    assert result.infusions_before == 3
    assert result.fired("testdrug.too-soon") is not None
    ok = run_mini({**MS, "infusions": {"count": 3, "last": "2025-12-08"}}, jurisdiction="US")
    assert ok.fired("testdrug.too-soon") is None
    program = run_mini(MS, jurisdiction="US", context={"infusions": ["2025-12-30"]})
    assert program.infusions_before == 1 and program.fired("testdrug.too-soon") is not None


def test_checklist_answers_hold_the_dose_and_quote_the_question(run_mini) -> None:  # type: ignore[no-untyped-def]
    result = run_mini(MS, jurisdiction="US", answers={"symptoms": True})
    finding = result.fired("testdrug.symptoms")
    assert result.verdict == "hold" and finding is not None
    assert finding.evidence == ("Answer to “New or worsening symptoms?”: yes",)
    assert run_mini(MS, jurisdiction="US", answers={"symptoms": False}).verdict == "ok"


def test_strata_follow_the_risk_model(run_mini) -> None:  # type: ignore[no-untyped-def]
    neg = run_mini({**MS, "labs": [{"test": "anti-jcv-antibody", "result": "negative", "on": "2025-11-01"}]})
    assert neg.stratum is not None and neg.stratum.id == "negative"
    unknown = run_mini(MS)
    assert unknown.stratum is not None and unknown.stratum.id == "unknown"
    high = {
        **MS,
        "labs": [
            {"test": "anti-jcv-antibody", "result": "positive", "on": "2025-11-01"},
            {"test": "anti-jcv-index", "value": 2.4, "on": "2025-11-01"},
        ],
        "infusions": {"count": 30, "last": "2025-12-08"},
    }
    result = run_mini(high)
    assert result.stratum is not None and result.stratum.id == "higher-risk" and result.stratum.needs_review
    exactly_24 = {**high, "infusions": {"dates": ["2024-01-05", "2025-12-08"]}}
    stratum = run_mini(exactly_24).stratum
    assert stratum is not None and stratum.id == "positive-lower"


def test_monitoring_calendar_due_and_overdue(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {
        **MS,
        "infusions": {"count": 8, "last": "2025-12-08"},
        "labs": [{"test": "alt", "value": 20, "unit": "U/L", "high": 40, "on": "2025-08-01"}],
    }
    result = run_mini(patient, jurisdiction="US", context={"events": {"prescriber-assessment": ["2025-08-20"]}})
    due = {d.item: d for d in result.due}
    assert due["liver"].status == "overdue" and due["liver"].due_on == date(2025, 11, 1)
    # first infusion 2025-05-26: the 3-month point (08-26) is met by 08-20 (within due_soon); 6 months (11-26) is not
    assert due["assessment"].status == "overdue" and due["assessment"].due_on == date(2025, 11, 26)


def test_baseline_items_are_due_before_the_first_infusion(run_mini) -> None:  # type: ignore[no-untyped-def]
    result = run_mini(MS, jurisdiction="EU")
    assert {d.item: d.status for d in result.due} == {"mri-baseline": "due"}
    recent = run_mini({**MS, "labs": [{"test": "brain-mri", "on": "2025-12-01"}]}, jurisdiction="EU")
    assert recent.due == ()


def test_the_json_contract(run_mini) -> None:  # type: ignore[no-untyped-def]
    patient = {**MS, "conditions": [{"text": "Progressive multifocal leukoencephalopathy"}]}
    data = run_mini(patient, jurisdiction="US").to_dict(resolved_from="Testbrand")
    assert set(data) >= {"drug", "resolved_from", "jurisdiction", "at", "verdict", "findings", "due", "pack"}
    assert data["resolved_from"] == "Testbrand" and data["at"] == "2026-01-05"
    finding = data["findings"][0]
    assert set(finding) >= {
        "rule",
        "severity",
        "title",
        "message",
        "action",
        "evidence",
        "basis",
        "needs_review",
        "sources",
    }
    assert set(finding["sources"][0]) >= {"id", "title", "section", "tier", "verified", "url"}
    assert data["pack"] == {"name": "testdrug", "version": "0.0.1"}
