"""Markdown, HTML and JSON output of a monograph document.

HTML is one self-contained page: inline CSS, no scripts, no fonts or styles
from a CDN, every piece of pack text escaped, and only http(s) links. The
JSON is the document itself, so an API or the web application can lay it out
differently without re-deriving anything.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable
from typing import Any, Literal

import orjson

from rxguard.druginfo import labels
from rxguard.druginfo.ask import Answer, DrugAnswer
from rxguard.druginfo.labels import Language
from rxguard.druginfo.monograph import (
    CitationView,
    MonographDoc,
    SectionView,
    SourceView,
    StatementView,
    TableView,
)
from rxguard.errors import InputError

Format = Literal["md", "html", "json"]
FORMATS: tuple[Format, ...] = ("md", "html", "json")


def render_monograph(doc: MonographDoc, fmt: str = "md") -> str:
    """The document as Markdown, HTML or JSON text."""
    if fmt == "md":
        return to_markdown(doc)
    if fmt == "html":
        return to_html(doc)
    if fmt == "json":
        return to_json(doc)
    raise InputError(f"format {fmt!r} is not available; use one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- citations


def citation_label(c: CitationView, lang: Language) -> str:
    """ "S12 · PL §2 · EU · tier B · verified" (or its Chinese form)."""
    tier = f"tier {c.tier}" if lang == "en" else f"{c.tier} 级"
    checked = labels.label("verified" if c.verified else "not-verified", lang)
    return f"{c.source} · {c.section} · {labels.jurisdiction(c.jurisdiction, lang)} · {tier} · {checked}"


def _applies(st: StatementView, lang: Language) -> str:
    if not st.jurisdictions:
        return ""
    sep = ": " if lang == "en" else "："
    return f"{labels.label('applies-in', lang)}{sep}{labels.jurisdictions(st.jurisdictions, lang)}"


# --------------------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: TableView) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(c) for c in table.columns) + " |"]
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def _md_statement(st: StatementView, lang: Language) -> list[str]:
    head = f"**{st.heading}** " if st.heading else ""
    flags = []
    if st.unverified:
        flags.append(f"⚠ {labels.label('unverified-statement', lang)}")
    if st.jurisdictions:
        flags.append(_applies(st, lang))
    tail = f" _({' · '.join(flags)})_" if flags else ""
    lines = [f"- {head}{st.text}{tail}"]
    lines += [f"  - {point}" for point in st.points]
    if st.table:
        lines.append("")
        lines += [f"  {line}" for line in _md_table(st.table)]
        lines.append("")
    cites = "; ".join(f"[{citation_label(c, lang)}]" for c in st.citations)
    sep = ": " if lang == "en" else "："
    lines.append(f"  <sub>{labels.label('sources', lang)}{sep}{cites}</sub>")
    return lines


def _md_sources(sources: Iterable[SourceView], lang: Language) -> list[str]:
    lines = [f"## {labels.label('sources', lang)}", ""]
    for s in sources:
        checked = labels.label("verified" if s.verified else "not-verified", lang)
        tier = f"tier {s.tier}" if lang == "en" else f"{s.tier} 级"
        url = f" <{s.url}>" if s.url else ""
        where = labels.jurisdiction(s.jurisdiction, lang)
        lines.append(f"- **{s.id}** — {s.title}. {where}; {s.version}; {tier}; {checked}.{url}")
    return lines


def _meta(doc: MonographDoc) -> str:
    generated, reviewed = labels.label("generated", doc.lang), labels.label("reviewed", doc.lang)
    if doc.lang == "en":
        return f"{generated} {doc.drug} {doc.pack_version}; {reviewed} {doc.last_reviewed_on}."
    return f"{generated}（{doc.drug} {doc.pack_version}）；{reviewed}：{doc.last_reviewed_on}。"


def to_markdown(doc: MonographDoc) -> str:
    lang = doc.lang
    sep = ": " if lang == "en" else "："
    lines = [
        f"# {doc.title}",
        "",
        f"> **{labels.label('disclaimer', lang)}**{sep}{doc.disclaimer}",
        "",
        doc.summary,
        "",
        f"_{_meta(doc)}_",
    ]
    for section in doc.sections:
        lines += ["", f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        for st in section.statements:
            lines += _md_statement(st, lang)
    lines += ["", *_md_sources(doc.sources, lang), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC",
"PingFang SC","Microsoft YaHei",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.55;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;
margin-top:2rem}
.disclaimer{border-left:4px solid #b35900;background:#fff5eb;padding:.6rem 1rem}
.meta{color:#555;font-size:.9rem}
ul.statements{padding-left:1.2rem}ul.statements>li{margin:.6rem 0}
.cite{display:block;color:#444;font-size:.8rem}
.cite a{color:#0b5394}
.flag{color:#8a4b00;font-size:.85rem}
.applies{color:#333;font-size:.85rem;font-style:italic}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;padding:.2rem .5rem;
text-align:left}
.sources li{margin:.3rem 0;font-size:.9rem}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _safe_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def _html_cite(c: CitationView, lang: Language) -> str:
    return f'<a href="#src-{_e(c.source)}">{_e(citation_label(c, lang))}</a>'


def _html_table(table: TableView) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_statement(st: StatementView, lang: Language) -> str:
    parts = [f'<li id="{_e(st.id)}">']
    if st.heading:
        parts.append(f"<strong>{_e(st.heading)}</strong> ")
    parts.append(_e(st.text))
    if st.unverified:
        parts.append(f' <span class="flag">⚠ {_e(labels.label("unverified-statement", lang))}</span>')
    if st.jurisdictions:
        parts.append(f' <span class="applies">{_e(_applies(st, lang))}</span>')
    if st.points:
        parts.append("<ul>" + "".join(f"<li>{_e(p)}</li>" for p in st.points) + "</ul>")
    if st.table:
        parts.append(_html_table(st.table))
    cites = "; ".join(_html_cite(c, lang) for c in st.citations)
    sep = ": " if lang == "en" else "："
    parts.append(f'<span class="cite">{_e(labels.label("sources", lang))}{sep}{cites}</span></li>')
    return "".join(parts)


def _html_section(section: SectionView, lang: Language) -> str:
    intro = f"<p>{_e(section.intro)}</p>" if section.intro else ""
    items = "".join(_html_statement(st, lang) for st in section.statements)
    return (
        f'<section id="section-{_e(section.id)}"><h2>{_e(section.title)}</h2>{intro}'
        f'<ul class="statements">{items}</ul></section>'
    )


def _html_sources(sources: Iterable[SourceView], lang: Language) -> str:
    items = []
    for s in sources:
        checked = labels.label("verified" if s.verified else "not-verified", lang)
        tier = f"tier {s.tier}" if lang == "en" else f"{s.tier} 级"
        url = _safe_url(s.url)
        link = f' <a href="{_e(url)}" rel="noopener noreferrer">{_e(url)}</a>' if url else ""
        where = labels.jurisdiction(s.jurisdiction, lang)
        items.append(
            f'<li id="src-{_e(s.id)}"><strong>{_e(s.id)}</strong> — {_e(s.title)}. '
            f"{_e(where)}; {_e(s.version)}; {_e(tier)}; {_e(checked)}.{link}</li>"
        )
    return (
        f'<section id="section-sources"><h2>{_e(labels.label("sources", lang))}</h2>'
        f'<ul class="sources">{"".join(items)}</ul></section>'
    )


def to_html(doc: MonographDoc) -> str:
    lang = doc.lang
    html_lang = "en" if lang == "en" else "zh-Hans"
    sep = ": " if lang == "en" else "："
    meta = _meta(doc)
    body = "".join(_html_section(s, lang) for s in doc.sections)
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(doc.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(doc.title)}</h1>"
        f'<p class="disclaimer"><strong>{_e(labels.label("disclaimer", lang))}</strong>'
        f"{_e(sep)}{_e(doc.disclaimer)}</p>"
        f'<p>{_e(doc.summary)}</p><p class="meta">{_e(meta)}</p>'
        f"{body}{_html_sources(doc.sources, lang)}</body></html>\n"
    )


# --------------------------------------------------------------------------- json


def as_data(doc: MonographDoc) -> dict[str, Any]:
    return dataclasses.asdict(doc)


def to_json(doc: MonographDoc) -> str:
    return orjson.dumps(as_data(doc), option=orjson.OPT_INDENT_2).decode() + "\n"


# --------------------------------------------------------------------------- answers (rxguard ask)


def _text_statement(st: StatementView, lang: Language) -> list[str]:
    head = f"{st.heading}: " if st.heading and lang == "en" else (f"{st.heading}：" if st.heading else "")
    flags = []
    if st.unverified:
        flags.append(f"⚠ {labels.label('unverified-statement', lang)}")
    if st.jurisdictions:
        flags.append(_applies(st, lang))
    tail = f" ({' · '.join(flags)})" if flags else ""
    lines = [f"• {head}{st.text}{tail}"]
    lines += [f"    - {point}" for point in st.points]
    if st.table:
        lines += ["    " + " | ".join(st.table.columns)]
        lines += ["    " + " | ".join(row) for row in st.table.rows]
    sep = ": " if lang == "en" else "："
    lines.append(f"    {labels.label('sources', lang)}{sep}" + "; ".join(citation_label(c, lang) for c in st.citations))
    return lines


_ANSWER_LABELS = {
    "urgent": ("URGENT", "紧急"),
    "answer": ("Answer", "回答"),
    "computed": ("From the question's numbers", "按问题中的数字"),
    "support": ("Supporting statements", "依据"),
}


def _answer_label(key: str, lang: Language) -> str:
    en, zh = _ANSWER_LABELS[key]
    return en if lang == "en" else zh


def _cites_line(citations: Iterable[CitationView], lang: Language) -> str:
    sep = ": " if lang == "en" else "："
    return f"    {labels.label('sources', lang)}{sep}" + "; ".join(citation_label(c, lang) for c in citations)


def _text_drug(drug: DrugAnswer, lang: Language) -> list[str]:
    sep = ": " if lang == "en" else "："
    lines: list[str] = []
    for urgent in drug.urgent:
        lines += [
            f"⚠ {_answer_label('urgent', lang)} — {urgent.title}",
            urgent.text,
            _cites_line(urgent.citations, lang),
            "",
        ]
    if drug.note:
        lines += [drug.note, ""]
    topic = next((s.title for s in drug.sections if s.id == drug.topic), None)
    lines += [f"{drug.display} — {topic}" if topic else drug.display, ""]
    if drug.direct:
        lines += [f"{_answer_label('answer', lang)}{sep}{drug.direct}", ""]
    for finding in drug.findings:
        lines += [f"• {finding.text}", _cites_line(finding.citations, lang)]
    if drug.findings:
        lines.append("")
    if drug.sections:
        lines += [_answer_label("support", lang), ""]
    for section in drug.sections:
        if len(drug.sections) > 1 or section.id != drug.topic:
            lines += [f"{drug.display} — {section.title}", ""]
        for st in section.statements:
            lines += _text_statement(st, lang)
        lines.append("")
    if drug.related_conflicts:
        lines += [labels.label("conflicts", lang), ""]
        for st in drug.related_conflicts:
            lines += _text_statement(st, lang)
        lines.append("")
    if drug.sources:
        lines += [labels.label("sources", lang)]
        for s in drug.sources:
            checked = labels.label("verified" if s.verified else "not-verified", lang)
            tier = f"tier {s.tier}" if lang == "en" else f"{s.tier} 级"
            url = f" {s.url}" if s.url else ""
            lines.append(f"  {s.id} — {s.title} ({labels.jurisdiction(s.jurisdiction, lang)}; {tier}; {checked}){url}")
        lines.append("")
    lines.append(f"{labels.label('disclaimer', lang)}{sep}{drug.disclaimer}")
    return lines


def answer_to_text(answer: Answer) -> str:
    lang = answer.lang
    if answer.status != "answered":
        return answer.message + "\n"
    lines: list[str] = []
    for drug in answer.drugs:
        lines += _text_drug(drug, lang)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def answer_to_json(answer: Answer) -> str:
    return orjson.dumps(dataclasses.asdict(answer), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_answer(answer: Answer, fmt: str = "text") -> str:
    if fmt == "text":
        return answer_to_text(answer)
    if fmt == "json":
        return answer_to_json(answer)
    raise InputError(f"format {fmt!r} is not available for answers; use text or json")
