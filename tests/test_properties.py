"""Property tests: the engine never raises on well-formed facts, is deterministic,
and its verdict is the most severe finding (a review-flagged finding never contraindicates by itself
and counts as hold when its severity is hold or above; a rule that could not be verified counts as at
least caution and at most hold)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import FIXTURES

from rxguard.engine import assess
from rxguard.engine.facts import reader_for
from rxguard.facts.builder import build_bundle
from rxguard.knowledge.loader import Pack, load_all, load_pack
from rxguard.knowledge.schema import SEVERITY_RANK

AT = date(2026, 1, 5)
PACKS: dict[str, Pack] = {"testdrug": load_pack(FIXTURES / "minipack"), **load_all()}
READER = reader_for(PACKS)

# Words drawn from every pack's value-set names, so generated patients hit real rules.
NAMES = sorted({name for pack in PACKS.values() for vs in pack.valuesets.values() for name in vs.names})
days = st.integers(min_value=0, max_value=3650).map(lambda n: AT - timedelta(days=n))
labs = st.sampled_from(
    ["alt", "ast", "bilirubin-total", "egfr", "platelets", "lymphocytes", "anti-jcv-index", "creatinine"]
)

patients = st.fixed_dictionaries(
    {
        "age": st.integers(min_value=0, max_value=95),
        "sex": st.sampled_from(["female", "male", "unknown"]),
        "conditions": st.lists(
            st.fixed_dictionaries(
                {"text": st.sampled_from(NAMES), "onset": days.map(str)}, optional={"abated": days.map(str)}
            ),
            max_size=4,
        ),
        "medications": st.lists(
            st.fixed_dictionaries(
                {
                    "text": st.sampled_from(NAMES),
                    "start": days.map(str),
                    "status": st.sampled_from(["active", "completed", "stopped"]),
                },
                optional={"kind": st.sampled_from(["statement", "request", "administration"])},
            ),
            max_size=4,
        ),
        "labs": st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {"test": labs, "value": st.floats(0, 5000, allow_nan=False), "on": days.map(str)},
                    optional={"high": st.floats(0.1, 500)},
                ),
                st.fixed_dictionaries(
                    {
                        "test": st.sampled_from(["anti-jcv-antibody", "anti-natalizumab-antibody"]),
                        "result": st.sampled_from(["positive", "negative"]),
                        "on": days.map(str),
                    }
                ),
            ),
            max_size=5,
        ),
        "infusions": st.one_of(
            st.just({"count": 0, "last": str(AT)}),
            st.builds(lambda n, d: {"count": n, "last": str(d)}, st.integers(0, 60), days),
        ),
    },
    optional={"pregnant": st.just(True), "breastfeeding": st.just(True)},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patient=patients,
    pack_name=st.sampled_from(sorted(PACKS)),
    jurisdiction=st.sampled_from([None, "US", "EU"]),
    answers_on=st.booleans(),
)
def test_engine_is_total_deterministic_and_verdict_is_most_severe(patient, pack_name, jurisdiction, answers_on) -> None:  # type: ignore[no-untyped-def]
    pack = PACKS[pack_name]
    if patient["infusions"]["count"] == 0:
        patient = {k: v for k, v in patient.items() if k != "infusions"}
    facts = READER.read(build_bundle(patient, at=AT, drug=pack.identity.inn))
    answers = {q.id: True for q in pack.questions.values() if q.answer_type == "boolean"} if answers_on else {}
    first = assess(pack, facts, at=AT, jurisdiction=jurisdiction, answers=answers)
    second = assess(pack, facts, at=AT, jurisdiction=jurisdiction, answers=answers)
    assert first == second
    worst = max((SEVERITY_RANK[f.effective_severity] for f in first.findings), default=0)
    assert SEVERITY_RANK[first.verdict] == worst
    for finding in first.findings:
        rank, counts = SEVERITY_RANK[finding.severity], SEVERITY_RANK[finding.effective_severity]
        if finding.could_not_verify:
            assert counts <= min(rank, SEVERITY_RANK["hold"])
            assert counts >= SEVERITY_RANK["caution"] or finding.severity == "info"
        elif finding.needs_review:
            assert counts == (SEVERITY_RANK["hold"] if rank >= SEVERITY_RANK["hold"] else rank)
        assert finding.sources and all(s.section for s in finding.sources)
        if jurisdiction is not None:
            assert jurisdiction in pack.rules_by_id[finding.rule_id].jurisdictions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient=patients, pack_name=st.sampled_from(sorted(PACKS)), answers_on=st.booleans())
def test_rules_skipped_for_absent_data_could_not_have_fired(patient, pack_name, answers_on) -> None:  # type: ignore[no-untyped-def]
    """The trigger-key shortcut never hides a finding: every skipped rule's condition is false."""
    from rxguard.engine.assess import _present_keys, build_context, compile_pack

    pack = PACKS[pack_name]
    if patient["infusions"]["count"] == 0:
        patient = {k: v for k, v in patient.items() if k != "infusions"}
    facts = READER.read(build_bundle(patient, at=AT, drug=pack.identity.inn))
    answers = {q.id: True for q in pack.questions.values() if q.answer_type == "boolean"} if answers_on else {}
    compiled = compile_pack(pack)
    ctx, _ = build_context(compiled, facts, AT, None, answers, {}, None)
    present = _present_keys(ctx)
    for cr in compiled.rules:
        if cr.triggers is not None and not (cr.triggers & present):
            assert cr.pred(ctx) is None, cr.rule.id
