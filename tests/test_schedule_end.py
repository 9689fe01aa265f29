"""A monitoring item that counts from the last infusion, or ends a period after it (schedule.yaml).

The calendar is a pure function of the infusion days, the evidence and the day
assessed, so its relations are checked over generated histories: an end never
adds an item or moves a due date; a later infusion never ends an item sooner;
nothing listed is due after the end; and no item is listed on a day after its end.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rxguard.engine.model import DueItem
from rxguard.engine.predicates import Ctx, shift
from rxguard.engine.schedule import CompiledItem, compute_due, ends_on
from rxguard.facts.model import PatientFacts
from rxguard.knowledge.schema import MonitoringItem

SOURCE = [{"source": "S1", "section": "§5"}]


def _item(**fields: object) -> MonitoringItem:
    base: dict[str, object] = {
        "id": "monthly",
        "title": "Monthly test",
        "kind": "lab",
        "evidence": ["done"],
        "every": "P1M",
        "jurisdictions": ["US"],
        "basis": "label",
        "sources": SOURCE,
    }
    return MonitoringItem.model_validate({**base, **fields})


def _ctx(at: date, infusions: list[date], done: list[date] = ()) -> Ctx:  # type: ignore[assignment]
    return Ctx(
        facts=PatientFacts(patient_id="p", birth_date=None, sex="unknown"),
        at=at,
        jurisdiction="US",
        answers={},
        question_text={},
        infusions=tuple(sorted(d for d in infusions if d < at)),
        order=None,
        preparation=None,
        parameters={},
        default_ulns={},
        bands=None,
        events={"done": tuple(sorted(done, reverse=True))},
    )


def _due(item: MonitoringItem, ctx: Ctx) -> dict[str, DueItem]:
    return {d.item: d for d in compute_due((CompiledItem(item, None),), ctx)}


ENDS = {"until": {"after": "last_infusion", "period": "P48M"}}
COURSE = [date(2026, 2, 2) + timedelta(days=i) for i in range(5)] + [
    date(2027, 2, 8) + timedelta(days=i) for i in range(3)
]
LAST = COURSE[-1]


def test_the_end_is_counted_from_the_last_infusion_and_moves_with_a_new_course() -> None:
    item = _item(**ENDS)
    assert ends_on(_ctx(date(2026, 6, 1), COURSE), item) == date(2030, 2, 6)  # the first course only, so far
    assert ends_on(_ctx(date(2027, 6, 1), COURSE), item) == shift(LAST, "P48M") == date(2031, 2, 10)
    assert ends_on(_ctx(date(2026, 1, 1), COURSE), item) is None  # no infusion yet: no end
    first = _item(until={"after": "first_infusion", "period": "P48M"})
    assert ends_on(_ctx(date(2027, 6, 1), COURSE), first) == date(2030, 2, 2)


def test_a_monthly_item_is_listed_until_its_end_and_not_after() -> None:
    item = _item(**ENDS)
    end = date(2031, 2, 10)
    done_last_month = [shift(end, "P1M", -1)]
    on_the_end = _due(item, _ctx(end, COURSE, done_last_month))
    assert on_the_end["monthly"].due_on == end and on_the_end["monthly"].status == "due"
    assert _due(item, _ctx(end + timedelta(days=1), COURSE, done_last_month)) == {}
    assert _due(item, _ctx(date(2032, 1, 1), COURSE)) == {}  # long after: nothing, not an endless overdue
    # Without the end, the same calendar keeps listing the test.
    assert "monthly" in _due(_item(), _ctx(date(2032, 1, 1), COURSE))
    # A test done on the end day: the next one would fall after the end, so nothing more is due.
    assert _due(item, _ctx(end, COURSE, [end])) == {}


def test_an_item_anchored_at_the_last_infusion_counts_from_it() -> None:
    item = _item(every=None, at_offsets=["P1M", "P3M"], anchor="last_infusion")
    due = _due(item, _ctx(date(2027, 2, 20), COURSE))
    assert due["monthly"].due_on == shift(LAST, "P1M")
    during_first_course = _due(item, _ctx(date(2026, 2, 20), COURSE))
    assert during_first_course["monthly"].due_on == shift(COURSE[4], "P1M")
    from_first = _due(_item(every=None, at_offsets=["P1M", "P3M"]), _ctx(date(2027, 2, 20), COURSE))
    assert from_first["monthly"].due_on == shift(COURSE[0], "P1M")  # the default anchor is unchanged


def test_until_needs_a_recurring_item() -> None:
    with pytest.raises(ValidationError, match="until ends a recurring item"):
        _item(every=None, **ENDS)
    with pytest.raises(ValidationError):
        _item(until={"after": "next_infusion", "period": "P48M"})


days = st.integers(min_value=0, max_value=3000).map(lambda n: date(2024, 1, 1) + timedelta(days=n))
histories = st.lists(days, min_size=0, max_size=10, unique=True).map(sorted)
periods = st.sampled_from(["P1M", "P6M", "P12M", "P48M", "P90D"])
cadences = st.sampled_from([{"every": "P1M"}, {"every": "P3M"}, {"at_offsets": ["P1M", "P6M"], "every": "P6M"},
                            {"at_offsets": ["P2W"]}])  # fmt: skip
anchors = st.sampled_from(["first_infusion", "last_infusion", "start"])


@settings(max_examples=300, deadline=None)
@given(history=histories, done=st.lists(days, max_size=6), at=days, period=periods, cadence=cadences,
       anchor=anchors, after=st.sampled_from(["first_infusion", "last_infusion"]))  # fmt: skip
def test_an_end_only_removes_items_and_never_lists_one_due_after_it(  # type: ignore[no-untyped-def]
    history, done, at, period, cadence, anchor, after
) -> None:
    open_ended = _item(anchor=anchor, **cadence)
    ending = _item(anchor=anchor, until={"after": after, "period": period}, **cadence)
    ctx = _ctx(at, history, done)
    without, with_end = _due(open_ended, ctx), _due(ending, _ctx(at, history, done))
    assert set(with_end) <= set(without)  # an end never adds an item...
    for key, item in with_end.items():
        assert item == without[key]  # ...nor moves a due date or a status
        end = ends_on(ctx, ending)
        assert end is None or (item.due_on <= end and at <= end)
    end = ends_on(ctx, ending)
    if end is None or (at <= end and all(d.due_on <= end for d in without.values())):
        assert with_end == without  # before its end, the ending item is the open-ended one


@settings(max_examples=300, deadline=None)
@given(history=st.lists(days, min_size=1, max_size=8, unique=True).map(sorted), done=st.lists(days, max_size=6),
       at=days, extra=st.integers(min_value=1, max_value=400), period=periods, cadence=cadences)  # fmt: skip
def test_a_later_infusion_never_ends_an_item_sooner(history, done, at, extra, period, cadence) -> None:  # type: ignore[no-untyped-def]
    item = _item(until={"after": "last_infusion", "period": period}, **cadence)
    later = history[-1] + timedelta(days=extra)
    if later >= at:
        return
    before = _due(item, _ctx(at, history, done))
    after = _due(item, _ctx(at, [*history, later], done))
    assert set(before) <= set(after)  # the first-infusion anchor is unchanged, the end only moves later
    assert all(after[k].due_on == before[k].due_on for k in before)


def test_the_monograph_says_when_an_item_ends_in_both_languages() -> None:
    from rxguard.druginfo.labels import timing

    common = {"anchor": "first_infusion", "at_offsets": [], "every": "P1M", "before_start_within": None}
    en = timing(**common, lang="en", until=("last_infusion", "P48M"))
    zh = timing(**common, lang="zh", until=("last_infusion", "P48M"))
    assert en == "every 1 month, until 4 years after the last infusion", en
    assert "末次输注" in zh and "4 年" in zh, zh
    assert timing(**common, lang="en") == "every 1 month"
    assert "the last infusion" in timing(**{**common, "anchor": "last_infusion", "at_offsets": ["P1M"]}, lang="en")
