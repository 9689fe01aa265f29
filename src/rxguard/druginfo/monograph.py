"""Build a monograph, in one language, from a pack: statements, conflicts, calendar, strata.

The result (:class:`MonographDoc`) is a plain, language-resolved document that
the formatters in :mod:`rxguard.druginfo.formats` turn into Markdown, HTML or
JSON, and that ``rxguard ask`` cuts into sections. Everything in it is a
statement with citations, including the parts generated from other pack files:

- "Where sources disagree" from ``conflicts.yaml`` (claims and resolution);
- the monitoring calendar from ``schedule.yaml``;
- the risk strata from ``risk.yaml``.

Their Chinese wording comes from ``monograph.yaml`` (``conflicts_zh``,
``calendar_zh``, ``strata_zh``); where it is missing the English is shown and
marked, and :attr:`MonographDoc.missing_translations` says what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rxguard.druginfo import labels
from rxguard.druginfo.labels import Language
from rxguard.errors import InputError, PackError
from rxguard.knowledge.loader import Pack
from rxguard.knowledge.monograph import (
    SECTION_ORDER,
    Monograph,
    Statement,
    Table,
    Text,
    is_stale,
    monograph_of,
)
from rxguard.knowledge.schema import Citation, Conflict, MonitoringItem, Stratum

CONFLICTS_SECTION = "conflicts"
LANGS: tuple[Language, ...] = ("en", "zh")


@dataclass(frozen=True)
class CitationView:
    source: str
    section: str
    title: str
    jurisdiction: str
    tier: str
    verified: bool
    url: str


@dataclass(frozen=True)
class TableView:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ClaimView:
    """One source's claim in a disagreement, in parts, so a page can mark the English document name as quoted."""

    source: str
    title: str
    section: str
    tier: str
    says: str


@dataclass(frozen=True)
class StatementView:
    id: str
    text: str
    citations: tuple[CitationView, ...]
    heading: str | None = None
    points: tuple[str, ...] = ()
    table: TableView | None = None
    jurisdictions: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    unverified: bool = False
    generated_from: str = "monograph.yaml"
    #: A disagreement's claims, the same as ``points`` in parts (empty for other statements).
    claims: tuple[ClaimView, ...] = ()


@dataclass(frozen=True)
class SectionView:
    id: str
    title: str
    statements: tuple[StatementView, ...]
    intro: str = ""


@dataclass(frozen=True)
class SourceView:
    id: str
    title: str
    jurisdiction: str
    version: str
    tier: str
    verified: bool
    url: str


#: Version of the JSON of monographs and answers (docs/druginfo.md, "JSON contract").
CONTRACT_VERSION = 3


@dataclass(frozen=True)
class MonographDoc:
    drug: str
    lang: Language
    title: str
    summary: str
    disclaimer: str
    pack_version: str
    last_reviewed_on: str
    sections: tuple[SectionView, ...]
    sources: tuple[SourceView, ...]
    missing_translations: tuple[str, ...] = field(default=())
    contract_version: int = CONTRACT_VERSION

    def section(self, section_id: str) -> SectionView | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def statements(self) -> list[StatementView]:
        return [st for section in self.sections for st in section.statements]


# --------------------------------------------------------------------------- building


class _Builder:
    """Holds the pack and language while the document is assembled."""

    def __init__(self, pack: Pack, monograph: Monograph, lang: Language) -> None:
        self.pack, self.mono, self.lang = pack, monograph, lang
        self.missing: list[str] = []

    def cite(self, citations: Iterable[Citation]) -> tuple[CitationView, ...]:
        return tuple(self._citation(c.source, c.section) for c in citations)

    def _citation(self, source_id: str, section: str) -> CitationView:
        source = self.pack.sources.get(source_id)
        if source is None:  # the loader's reference check makes this unreachable
            raise PackError(f"{self.pack.path}: cites unregistered source {source_id!r}")
        return CitationView(source_id, section, source.title, source.jurisdiction, source.tier,
                            source.verified, source.url)  # fmt: skip

    def english_only(self, text: str, what: str) -> str:
        """English fallback for generated text that has no Chinese wording yet."""
        if self.lang == "en":
            return text
        self.missing.append(what)
        return f"{text} {labels.label('english-only', 'zh')}"

    # ------------------------------------------------------------ authored statements

    def statement(self, st: Statement) -> StatementView:
        return StatementView(
            id=st.id,
            heading=st.heading.in_(self.lang) if st.heading else None,
            text=st.text.in_(self.lang),
            table=self.table(st.table) if st.table else None,
            citations=self.cite(st.cite),
            jurisdictions=tuple(st.jurisdictions),
            rules=tuple(st.rules),
            unverified=st.unverified,
        )

    def table(self, table: Table) -> TableView:
        def cell(value: str | Text) -> str:
            return value if isinstance(value, str) else value.in_(self.lang)

        return TableView(
            columns=tuple(c.in_(self.lang) for c in table.columns),
            rows=tuple(tuple(cell(v) for v in row) for row in table.rows),
        )

    # ------------------------------------------------------------ generated statements

    def calendar(self, item: MonitoringItem) -> StatementView:
        zh = self.mono.calendar_zh.get(item.id)
        if self.lang == "zh" and zh is not None and not is_stale(zh, item):
            title, note = zh.title, zh.review_note
        else:
            title = self.english_only(item.title, f"calendar:{item.id}")
            note = item.review_note
        when = labels.timing(
            anchor=item.anchor,
            at_offsets=item.at_offsets,
            every=item.every,
            before_start_within=item.before_start_within,
            lang=self.lang,
            until=(item.until.after, item.until.period) if item.until else None,
        )
        due = labels.label("due", self.lang)
        text = f"{due}: {when}." if self.lang == "en" else f"{due}：{when}。"
        if item.needs_review and note:
            text = f"{text} {note}"
        return StatementView(
            id=f"calendar-{item.id}",
            heading=title,
            text=text,
            citations=self.cite(item.sources),
            jurisdictions=tuple(item.jurisdictions),
            unverified=item.needs_review,
            generated_from="schedule.yaml",
        )

    def stratum(self, stratum: Stratum) -> StatementView:
        zh = self.mono.strata_zh.get(stratum.id)
        if self.lang == "zh" and zh is not None and not is_stale(zh, stratum):
            title, action, note = zh.title, zh.action, zh.review_note
        else:
            title = self.english_only(stratum.title, f"stratum:{stratum.id}")
            action, note = stratum.action, stratum.review_note
        text = f"{action} {note}".strip() if stratum.needs_review else action
        return StatementView(
            id=f"stratum-{stratum.id}",
            heading=title,
            text=text,
            citations=self.cite(stratum.sources),
            unverified=stratum.needs_review,
            generated_from="risk.yaml",
        )

    def conflict(self, conflict: Conflict) -> StatementView:
        zh = self.mono.conflicts_zh.get(conflict.id)
        use_zh = (
            self.lang == "zh" and zh is not None and len(zh.says) == len(conflict.claims) and not is_stale(zh, conflict)
        )
        if use_zh and zh is not None:
            topic, says, resolution = zh.topic, list(zh.says), zh.resolution
        else:
            if self.lang == "zh":
                self.missing.append(f"conflict:{conflict.id}")
            topic, says, resolution = conflict.topic, [c.says for c in conflict.claims], conflict.resolution
            if self.lang == "zh":
                topic = f"{topic} {labels.label('english-only', 'zh')}"
        claims = tuple(
            self._claim(claim.source, claim.section, text) for claim, text in zip(conflict.claims, says, strict=True)
        )
        kind = labels.label(f"kind-{conflict.kind}", self.lang)
        return StatementView(
            id=f"conflict-{conflict.id}",
            heading=f"{topic} ({kind})" if self.lang == "en" else f"{topic}（{kind}）",
            text=f"{labels.label('applies', self.lang)}: {resolution}"
            if self.lang == "en"
            else f"{labels.label('applies', self.lang)}：{resolution}",
            points=tuple(self._claim_line(c) for c in claims),
            claims=claims,
            citations=tuple(self._citation(c.source, c.section) for c in conflict.claims),
            rules=tuple(conflict.rules),
            generated_from="conflicts.yaml",
        )

    def _claim(self, source_id: str, section: str, says: str) -> ClaimView:
        source = self.pack.sources[source_id]
        tier = f"{labels.label('tier', self.lang)} {source.tier}" if self.lang == "en" else (
            f"{source.tier} {labels.label('tier', self.lang)}"
        )  # fmt: skip
        return ClaimView(source_id, source.title, section, tier, says)

    def _claim_line(self, c: ClaimView) -> str:
        if self.lang == "en":
            return f"{c.title} ({c.source}, {c.section}; {c.tier}) {labels.label('says', 'en')}: {c.says}"
        return f"{c.title}（{c.source}，{c.section}；{c.tier}）{labels.label('says', 'zh')}：{c.says}"


def _sections(builder: _Builder) -> list[SectionView]:
    mono, pack, lang = builder.mono, builder.pack, builder.lang
    out: list[SectionView] = []
    for section_id in SECTION_ORDER:
        section = mono.section(section_id)
        statements = [builder.statement(st) for st in section.statements] if section else []
        if section_id == "monitoring":
            statements += [builder.calendar(item) for item in pack.monitoring]
        if section_id == "risk" and pack.risk is not None:
            statements += [builder.stratum(s) for s in pack.risk.strata]
        if not statements:
            continue
        title = section.title.in_(lang) if section else section_id
        out.append(SectionView(section_id, title, tuple(statements)))
    conflicts = tuple(builder.conflict(c) for c in pack.conflicts)
    if conflicts:
        out.append(
            SectionView(
                CONFLICTS_SECTION,
                labels.label("conflicts", lang),
                conflicts,
                intro=labels.label("conflicts-intro", lang),
            )
        )
    return out


def _cited_sources(pack: Pack, sections: Iterable[SectionView]) -> tuple[SourceView, ...]:
    ids: list[str] = []
    for section in sections:
        for st in section.statements:
            ids.extend(c.source for c in st.citations if c.source not in ids)
    order = list(pack.sources)
    return tuple(
        SourceView(s.id, s.title, s.jurisdiction, s.version, s.tier, s.verified, s.url)
        for s in (pack.sources[i] for i in sorted(ids, key=order.index))
    )


def build_monograph(pack: Pack, lang: Language = "en") -> MonographDoc:
    """The pack's monograph in one language; InputError if the pack has none."""
    if lang not in LANGS:
        raise InputError(f"language {lang!r} is not available; use en or zh")
    mono = monograph_of(pack)
    if mono is None:
        raise InputError(f"the {pack.name} pack has no monograph.yaml; rxguard has no drug information text for it yet")
    builder = _Builder(pack, mono, lang)
    sections = _sections(builder)
    return MonographDoc(
        drug=pack.name,
        lang=lang,
        title=mono.title.in_(lang),
        summary=mono.summary.in_(lang),
        disclaimer=mono.disclaimer.in_(lang),
        pack_version=pack.meta.version,
        last_reviewed_on=mono.last_reviewed_on.isoformat(),
        sections=tuple(sections),
        sources=_cited_sources(pack, sections),
        missing_translations=tuple(builder.missing),
    )
