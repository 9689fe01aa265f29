"""Properties of the pure dose decision over generated visits (no database): ``decide(visit) -> Decision``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rxguard.facts.model import PatientFacts
from rxguard.program.decision import DECISION, PatientState, Visit, checklist_questions, decide
from rxguard.program.registry import all_programs, checks_applying
from rxguard.store.visits import Cert, Held, Previous, SameVisit

AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
PROGRAMS = all_programs()
RANK = {v: k for k, v in DECISION.items()}
STATUSES = ("enrolled", "authorized", "lapsed", "suspended", "discontinued")
CERT_STATES = ("certified", "enrolled", "suspended", "revoked")


def _cert(draw: st.DrawFn, prefix: str) -> Cert | None:
    state = draw(st.sampled_from((None, *CERT_STATES)))
    if state is None:
        return None
    return Cert(f"{prefix}-cert", state, draw(st.sampled_from((None, "SAN-1"))))


@st.composite
def visits(draw: st.DrawFn) -> Visit:
    program = draw(st.sampled_from(PROGRAMS))
    questions = checklist_questions(program)
    answers: dict[str, bool | float] = {q: draw(st.booleans()) for q in questions}
    if questions and draw(st.booleans()):
        answers.pop(draw(st.sampled_from(questions)))  # sometimes a question is left unanswered
    gaps = draw(st.lists(st.integers(min_value=1, max_value=40), max_size=8))
    days, day = [], AT.date()
    for gap in reversed(gaps):
        day -= timedelta(days=gap)
        days.append(day)
    history = sorted(days)
    infusions = [datetime.combine(d, datetime.min.time(), tzinfo=UTC).replace(hour=9) for d in history]
    previous = None
    if draw(st.booleans()):
        previous = Previous(
            "prev",
            AT - timedelta(days=draw(st.integers(min_value=0, max_value=30)), hours=1),
            draw(st.sampled_from(("authorized", "hold"))),
            draw(st.sampled_from(("hold", "deferred", "cleared", "infused", "overridden"))),
            frozenset(
                draw(st.sets(st.sampled_from(("checklist", "dose-interval", "clinical-assessment")), max_size=2))
            ),
        )
    forms = {f.id: AT - timedelta(days=400) for f in program.definition.forms if draw(st.booleans())}
    held = Held(infusions, draw(st.booleans()), previous, "site-event", "prescriber-event", forms)
    same = (SameVisit("earlier", "deferred", "site", AT - timedelta(hours=1)),) if draw(st.booleans()) else ()
    until = draw(st.sampled_from((None, AT.date() + timedelta(days=30), AT.date() - timedelta(days=1))))
    state = PatientState(draw(st.sampled_from(STATUSES)), "multiple-sclerosis", until, "a reason")
    facts = PatientFacts(patient_id="p", birth_date=date(1985, 1, 1), sex="female")
    return Visit(program, state, "site", "doc", AT, answers, facts, history, held, same, _cert(draw, "site"),
                 _cert(draw, "doc"))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(visits())
def test_every_check_is_classified_by_its_program_and_the_decision_is_the_worst(visit: Visit) -> None:
    decision = decide(visit)
    ids = [c.id for c in decision.checks]
    assert len(ids) == len(set(ids))
    assert set(ids) <= checks_applying(visit.program.definition)
    classified = {c.id for c in visit.program.definition.checks}
    assert set(ids) <= classified
    worst = max({"pass": 0, "warn": 0, "hold": 1, "do-not-infuse": 2}[c.outcome] for c in decision.checks)
    assert RANK[decision.decision] == worst
    assert decide(visit) == decision  # pure: the same visit, the same decision


@settings(max_examples=150, deadline=None)
@given(visits(), st.sampled_from(("suspended", "discontinued", "enrolled")))
def test_a_patient_not_under_treatment_is_never_authorized_and_only_hard_stops_explain_it(
    visit: Visit, status: str
) -> None:
    stopped = replace(visit, patient=replace(visit.patient, status=status))
    decision = decide(stopped)
    assert decision.decision == "do-not-infuse"
    stops = [c for c in decision.checks if c.outcome == "do-not-infuse"]
    assert any(stopped.program.check_rule(c.id).kind == "hard-stop" for c in stops)


@settings(max_examples=150, deadline=None)
@given(visits())
def test_a_yes_on_the_checklist_never_makes_the_decision_better(visit: Visit) -> None:
    questions = checklist_questions(visit.program)
    if not questions:
        return
    worse = replace(visit, answers={**visit.answers, questions[0]: True})
    assert RANK[decide(worse).decision] >= max(RANK[decide(visit).decision], 1)


@settings(max_examples=150, deadline=None)
@given(visits())
def test_no_consent_no_certification_or_a_deferred_visit_is_do_not_infuse(visit: Visit) -> None:
    no_consent = replace(visit, held=replace(visit.held, consent_signed=False))
    assert decide(no_consent).decision == "do-not-infuse"
    uncertified = replace(visit, site_cert=Cert("s", "suspended", "SAN-1"))
    assert decide(uncertified).decision == "do-not-infuse"
    deferred = replace(visit, same_visit=(SameVisit("d", "deferred", "site", AT - timedelta(minutes=5)),))
    assert decide(deferred).decision == "do-not-infuse"
    assert "visit-not-deferred" in decide(deferred).failed


@settings(max_examples=150, deadline=None)
@given(visits())
def test_a_dose_already_given_today_is_a_hard_stop(visit: Visit) -> None:
    today = AT.replace(hour=8)
    again = replace(visit, held=replace(visit.held, infusions=[*visit.held.infusions, today]),
                    history=sorted({*visit.history, AT.date()}))  # fmt: skip
    decision = decide(again)
    assert decision.decision == "do-not-infuse" and "dose-not-already-given" in decision.failed
    assert again.program.check_rule("dose-not-already-given").kind == "hard-stop"
