"""Drug information: the monographs and the ask box, in English and Chinese.

The monograph is the pack's own (every statement cited, the "where sources
disagree" section included); the page lays it out with a table of contents
and the source register at the end. ``ask`` answers from the same text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from rxguard.druginfo import labels
from rxguard.druginfo.ask import answer_question
from rxguard.druginfo.monograph import CONFLICTS_SECTION, build_monograph
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.names import resolve_drug
from rxguard.web.context import PageDep
from rxguard.web.routing import WebRoute
from rxguard.web.templating import render

router = APIRouter(route_class=WebRoute)


@router.get("/drugs")
def drug_index(ctx: PageDep) -> Response:
    packs = load_all()
    docs = [build_monograph(pack, ctx.lang) for name, pack in sorted(packs.items())]
    return render(ctx, "drugs.html", docs=docs, answer=None, q="")


@router.get("/drugs/ask")
def ask(
    ctx: PageDep,
    q: Annotated[str, Query(max_length=500)] = "",
    jurisdiction: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """Answer from the packs; an htmx request gets only the answer, a plain one the whole page."""
    answer = answer_question(q, lang=None, jurisdiction=jurisdiction or None) if q.strip() else None
    if ctx.request.headers.get("hx-request"):
        return render(ctx, "_answer.html", answer=answer, q=q)
    packs = load_all()
    docs = [build_monograph(pack, ctx.lang) for name, pack in sorted(packs.items())]
    return render(ctx, "drugs.html", docs=docs, answer=answer, q=q)


@router.get("/drugs/{drug}")
def monograph(
    ctx: PageDep,
    drug: Annotated[str, Path(min_length=1, max_length=200)],
    lang: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """One monograph in the interface language (or ``lang``), conflicts section included."""
    doc_lang = lang if lang in ("en", "zh") else ctx.lang
    pack = load_all()[resolve_drug(drug).drug]
    doc = build_monograph(pack, doc_lang)  # type: ignore[arg-type]

    def doc_label(key: str) -> str:  # the document's own wording, in its language (not the interface's)
        return labels.label(key, doc.lang)

    return render(ctx, "monograph.html", doc=doc, conflicts_id=CONFLICTS_SECTION, doc_label=doc_label)
