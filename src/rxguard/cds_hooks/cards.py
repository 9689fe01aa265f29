"""Assessments → CDS Hooks cards, with as few interruptions as safety allows.

Indicator mapping (the reasons are in ``docs/api.md``):

========================  ==================  ======================
finding counts as         order-select/-sign  patient-view
========================  ==================  ======================
contraindicated           ``critical``        ``warning``
hold                      ``warning``         ``warning``
caution / info            one ``info`` card   one ``info`` card
overdue monitoring        —                   ``warning`` (one card)
due monitoring            —                   ``info`` (one card)
Risk stratum              —                   ``info``
program gap               ``warning``         ``warning``
suspended (pack severity  ``critical``        ``warning``
contraindicated)
========================  ==================  ======================

``critical`` is kept for a contraindication at the moment of ordering: some
EHRs show it as a pop-up, and alerts that interrupt for everything get
overridden for everything. A finding whose threshold ``needs_review``
never counts as a contraindication (the engine counts it as hold at hold or
above), so it never raises a ``critical`` card by itself but still warns
before the dose. A rule whose input could not be read ("could not verify")
counts as caution, or hold for a lab or dose gate, and says so on its card.
Cautions are gathered in one card per drug instead of one card each; every
card's footer says how many rules were checked and which could not be.

Every card names its evidence and its source (label, section, URL), offers
coded override reasons from the HL7 non-adherence code system, and links to
rxguard's pre-infusion page (a SMART launch when one is configured). Card ids are UUIDv8 values that carry a hash of
the card's topic (rule id, schedule item…), so feedback can be attributed
to a rule without storing every card sent (:func:`topic_of`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import orjson

from rxguard.engine.assess import source_refs
from rxguard.engine.model import Assessment, DueItem, Finding, SourceRef, StratumResult
from rxguard.knowledge.loader import Pack, load_all

SUMMARY_MAX = 139
NON_ADHERENCE = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
TOPIC_SYSTEM = "urn:rxguard:card-topic"

#: Reasons a clinician may give for overriding a safety card (HL7 non-adherence codes).
OVERRIDE_REASONS: tuple[dict[str, str], ...] = tuple(
    {"system": NON_ADHERENCE, "code": code, "display": display}
    for code, display in (
        ("action-performed-no-adverse-effect", "Intended action was performed previously without adverse effect"),
        ("risk-benefit-ratio", "Recipient assessment of risk/benefit ratio"),
        ("patient-ineligible", "Patient does not meet eligibility for recommended action"),
        ("action-completed", "Recommended action was already completed"),
        (
            "need-more-info",
            "Could not address recommended action due to need for more information/pending results/pending consult",
        ),
        ("expert-contradicts", "Advice from expert contradicts the recommended action"),
        ("policy-contradicts", "Institutional policy/guideline contradicts the recommended action"),
        ("inappropriate-recipient", "PC CDS delivered to inappropriate recipient/role"),
    )
)
ORDER_HOOKS = frozenset({"order-select", "order-sign"})
#: A rule's or a schedule item's basis, as a clinician reads it on a card.
BASIS_WORDS = {
    "label": "the product label",
    "program": "a program requirement",
    "literature": "published literature",
    "protocol": "a local protocol",
    "seed": "a seed page, not a label requirement",
}


def _day(value: date) -> str:
    """A date as a clinician reads it on a card: 2 Mar 2026."""
    return f"{value.day} {value:%b %Y}"


_FINDING_INDICATOR = {"contraindicated": "critical", "hold": "warning"}


@dataclass(frozen=True)
class CardContext:
    """What every card of one call shares."""

    hook: str
    hook_instance: str
    patient_id: str
    launch_url: str  # a SMART launch URL, or rxguard's pre-infusion page when none is configured
    smart: bool
    draft_order_ids: Mapping[str, Sequence[str]]  # drug -> MedicationRequest ids in draftOrders


# --------------------------------------------------------------------------- ids


def card_uuid(topic: str) -> str:
    """A UUIDv8 whose first 64 bits are a hash of ``topic`` and the rest random."""
    raw = bytearray(_topic_hash(topic) + os.urandom(8))
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def _topic_hash(topic: str) -> bytes:
    return hashlib.blake2b(topic.encode(), digest_size=8).digest()


def _prefix(raw: bytes) -> bytes:
    masked = bytearray(raw[:8])
    masked[6] &= 0x0F
    return bytes(masked)


@cache
def _topic_index() -> dict[bytes, str]:
    index: dict[bytes, str] = {}
    for pack in load_all().values():
        for topic in known_topics(pack):
            index[_prefix(_topic_hash(topic))] = topic
    return index


def known_topics(pack: Pack) -> Iterable[str]:
    drug = pack.identity.id
    yield from (f"rule:{rule.id}" for rule in pack.rules)
    yield from (f"due:{drug}:{status}" for status in ("overdue", "due"))
    yield from (f"cautions:{drug}", f"stratum:{drug}")
    yield from (f"program:{drug}:{gap}" for gap in PROGRAM_GAPS)


def topic_of(card_id: str) -> str | None:
    """The topic a card id was made for (None for ids rxguard did not issue)."""
    try:
        raw = uuid.UUID(card_id).bytes
    except ValueError:
        return None
    return _topic_index().get(_prefix(raw))


# --------------------------------------------------------------------------- text


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _md(text: str) -> str:
    """Plain text made safe for GitHub-flavoured markdown (no HTML, no accidental links)."""
    return text.replace("\\", "\\\\").replace("<", "&lt;").replace(">", "&gt;").replace("[", "\\[").replace("]", "\\]")


def _source_line(s: SourceRef) -> str:
    verified = "verified" if s.verified else "not verified"
    title = _md(f"{s.title} — {s.section}")
    link = f"[{title}]({s.url})" if s.url.startswith("https://") else title
    return f"- {link} ({s.jurisdiction}, tier {s.tier}, {verified})"


def _primary(sources: Sequence[SourceRef]) -> SourceRef | None:
    """The source to put on the card: verified and higher tier first, one with a URL if any."""
    if not sources:
        return None
    return min(sources, key=lambda s: (not s.verified, s.tier, not s.url))


def _source(sources: Sequence[SourceRef], a: Assessment, topic: str, display: str) -> dict[str, Any]:
    pack_label = f"rxguard {a.pack_name} pack {a.pack_version}"
    main = _primary(sources)
    out: dict[str, Any] = {
        "label": clip(f"{main.title}, {main.section} ({pack_label})" if main else pack_label, 200),
        "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": clip(display, 200)},
    }
    if main is not None and main.url.startswith(("https://", "http://")):
        out["url"] = main.url
    return out


def _finding_md(f: Finding) -> list[str]:
    lines = [
        f"**{_md(f.title)}** ({f.severity}"
        + (f", counts as {f.effective_severity}" if f.effective_severity != f.severity else "")
        + ")",
        "",
    ]
    # A rule that could not be verified has not found what its message describes.
    applies = "**If it applies:** " if f.could_not_verify else ""
    lines += [applies + _md(f.message), "", f"**Action:** {_md(f.action)}"]
    if f.evidence:
        lines += ["", "**Evidence:**", *(f"- {_md(e)}" for e in f.evidence)]
    if f.could_not_verify:
        lines += [
            "",
            "**Could not verify:** the record does not show for certain whether this applies (see the evidence).",
        ]
    if f.needs_review:
        lines += ["", f"**Needs review:** {_md(f.review_note or 'the deciding threshold is not verified')}"]
    if f.sources:
        lines += ["", "**Sources:**", *(_source_line(s) for s in f.sources)]
    lines += ["", f"Rule `{f.rule_id}` · basis {f.basis}"]
    return lines


def _coverage_md(a: Assessment) -> str:
    cov = a.coverage
    if not cov.could_not_verify:
        return f"Coverage: {len(cov.checked)} rule(s) checked; every rule in force could be checked."
    gaps = ", ".join(f"`{f.rule_id}`" for f in cov.could_not_verify)
    return f"Coverage: {len(cov.checked)} rule(s) checked; **could not verify** {gaps}."


def _footer(a: Assessment) -> list[str]:
    where = a.jurisdiction or "no jurisdiction given: the stricter rule applies"
    return ["", _coverage_md(a), "", f"_rxguard {a.pack_name} pack {a.pack_version}, assessed for {_day(a.at)} ({where}). "
            "For healthcare professionals; supports, does not replace, clinical judgement._"]  # fmt: skip


# --------------------------------------------------------------------------- cards


def _link(ctx: CardContext, drug: str) -> dict[str, Any]:
    """A SMART launch (with appContext) when one is configured, else a deep link to the pre-infusion page."""
    label = "Open rxguard's pre-infusion page"
    if not ctx.smart:
        return {"label": label, "url": ctx.launch_url, "type": "absolute"}
    app_context = orjson.dumps(
        {"drug": drug, "patientId": ctx.patient_id, "hook": ctx.hook, "hookInstance": ctx.hook_instance}
    ).decode()
    return {"label": label, "url": ctx.launch_url, "type": "smart", "appContext": app_context}


def _remove_orders(ctx: CardContext, drug: str, display: str) -> list[dict[str, Any]]:
    ids = ctx.draft_order_ids.get(drug, ()) if ctx.hook in ORDER_HOOKS else ()
    if not ids:
        return []
    return [
        {
            "label": clip(f"Remove the draft {display} order", 80),
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": [
                {
                    "type": "delete",
                    "description": f"Remove the draft {display} order",
                    "resourceId": f"MedicationRequest/{rid}",
                }
                for rid in ids
            ],
        }
    ]


def _card(
    summary: str, indicator: str, detail: list[str], source: dict[str, Any], topic: str, *,
    links: list[dict[str, Any]] | None = None, suggestions: list[dict[str, Any]] | None = None,
    overridable: bool = False,
) -> dict[str, Any]:  # fmt: skip
    card: dict[str, Any] = {
        "uuid": card_uuid(topic),
        "summary": clip(summary),
        "indicator": indicator,
        "detail": "\n".join(detail),
        "source": source,
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one" if len(suggestions) == 1 else "any"
    if overridable:
        card["overrideReasons"] = list(OVERRIDE_REASONS)
    if links:
        card["links"] = links
    return card


def finding_cards(a: Assessment, display: str, ctx: CardContext) -> list[dict[str, Any]]:
    """One card per contraindication or hold; all lesser findings in one info card."""
    cards = []
    lesser = []
    for f in a.findings:
        indicator = _FINDING_INDICATOR.get(f.effective_severity)
        if indicator is None:
            lesser.append(f)
            continue
        if indicator == "critical" and ctx.hook not in ORDER_HOOKS:
            indicator = "warning"  # opening a chart is not the moment to interrupt
        verb = "contraindicated" if f.effective_severity == "contraindicated" else "hold"
        cards.append(
            _card(
                f"{display}: {verb} — {f.title}",
                indicator,
                [*_finding_md(f), *_footer(a)],
                _source(f.sources, a, f"rule:{f.rule_id}", f.title),
                f"rule:{f.rule_id}",
                links=[_link(ctx, a.drug)],
                suggestions=_remove_orders(ctx, a.drug, display),
                overridable=True,
            )
        )
    if lesser:
        titles = "; ".join(f.title for f in lesser)
        detail: list[str] = []
        for f in lesser:
            detail += [*_finding_md(f), ""]
        sources = [s for f in lesser for s in f.sources]
        topic = f"cautions:{a.drug}"
        cards.append(
            _card(
                f"{display}: {len(lesser)} to note — {titles}",
                "info",
                [*detail, *_footer(a)],
                _source(sources, a, topic, f"{display} cautions"),
                topic,
            )
        )
    return cards


def _order_suggestion(item: DueItem, kind: str, patient_id: str) -> dict[str, Any] | None:
    if kind not in ("lab", "imaging"):
        return None
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "category": [{"text": "laboratory" if kind == "lab" else "imaging"}],
        "code": {"text": item.title},
        "subject": {"reference": f"Patient/{patient_id}"},
        "reasonCode": [{"text": f"rxguard monitoring schedule: {item.item} due {item.due_on.isoformat()}"}],
    }
    return {
        "label": clip(f"Order {item.title}", 80),
        "uuid": str(uuid.uuid4()),
        "actions": [{"type": "create", "description": f"Order {item.title}", "resource": resource}],
    }


def due_cards(a: Assessment, pack: Pack, display: str, ctx: CardContext) -> list[dict[str, Any]]:
    """Overdue monitoring (warning, with orders to place) and monitoring due now (info)."""
    items = {m.id: m for m in pack.monitoring}
    cards = []
    for status, indicator in (("overdue", "warning"), ("due", "info")):
        due = [d for d in a.due if d.status == status]
        if not due:
            continue
        lines = [f"**{_md(display)} monitoring {status}:**", ""]
        sources: list[SourceRef] = []
        suggestions = []
        for d in due:
            last = f", last done {_day(d.last_done)}" if d.last_done else ", never recorded"
            review = " — interval not verified" if d.needs_review else ""
            basis = BASIS_WORDS.get(d.basis, d.basis)
            lines.append(f"- {_md(d.title)}: due {_day(d.due_on)}{last} (source: {basis}){review}")
            item = items.get(d.item)
            if item is not None:
                sources += source_refs(pack, item.sources)
                suggestion = _order_suggestion(d, item.kind, ctx.patient_id)
                if suggestion is not None:
                    suggestions.append(suggestion)
        if sources:
            lines += ["", "**Sources:**", *dict.fromkeys(_source_line(s) for s in sources)]
        topic = f"due:{a.drug}:{status}"
        names = ", ".join(d.title for d in due)
        cards.append(
            _card(
                f"{display} monitoring {status}: {names}",
                indicator,
                [*lines, *_footer(a)],
                _source(sources, a, topic, f"{display} monitoring {status}"),
                topic,
                links=[_link(ctx, a.drug)],
                suggestions=suggestions,
                overridable=status == "overdue",
            )
        )
    return cards


def stratum_card(a: Assessment, display: str, ctx: CardContext) -> dict[str, Any] | None:
    s: StratumResult | None = a.stratum
    if s is None:
        return None
    model = s.model_title or "Risk"
    lines = [f"**{_md(model)}: {_md(s.title)}**", "", f"**Action:** {_md(s.action)}"]
    if s.evidence:
        lines += ["", "**Evidence:**", *(f"- {_md(e)}" for e in s.evidence)]
    if s.needs_review:
        lines += ["", f"**Needs review:** {_md(s.review_note or 'the cut-offs are not verified')}"]
    if s.sources:
        lines += ["", "**Sources:**", *(_source_line(src) for src in s.sources)]
    topic = f"stratum:{a.drug}"
    return _card(f"{display} {model}: {s.title}", "info", [*lines, *_footer(a)],
                 _source(s.sources, a, topic, f"{display} {model}"), topic, links=[_link(ctx, a.drug)])  # fmt: skip


# --------------------------------------------------------------------------- program gaps

#: Program gaps rxguard reports from its restricted-distribution records.
PROGRAM_GAPS: tuple[str, ...] = (
    "not-enrolled", "prescriber-not-certified", "site-not-certified", "enrollment-not-authorized",
    "reauthorization-lapsed", "consent-missing", "discontinued", "suspended",
)  # fmt: skip


@dataclass(frozen=True)
class ProgramGap:
    """What the program records lack; ``severity`` weighs it like a finding (a suspension takes the pack's)."""

    code: str
    program: str
    message: str
    action: str
    severity: str = "hold"


def program_cards(gaps: Sequence[ProgramGap], drug: str, display: str, ctx: CardContext) -> list[dict[str, Any]]:
    cards = []
    for gap in gaps:
        topic = f"program:{drug}:{gap.code}"
        lines = [f"**{_md(gap.program)}:** {_md(gap.message)}", "", f"**Action:** {_md(gap.action)}"]
        source = {
            "label": clip(f"{gap.program} (rxguard program records)", 200),
            "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": gap.code},
        }
        indicator = "critical" if gap.severity == "contraindicated" and ctx.hook in ORDER_HOOKS else "warning"
        cards.append(
            _card(
                f"{display}: {gap.message}",
                indicator,
                lines,
                source,
                topic,
                links=[_link(ctx, drug)],
                suggestions=_remove_orders(ctx, drug, display),
                overridable=True,
            )
        )
    return cards
