"""Knowledge packs and drug names: what rxguard knows, and how a name resolves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from rxguard.api.deps import UserDep
from rxguard.api.problems import problem_responses
from rxguard.api.routes import API_PREFIX
from rxguard.api.routes.pagination import PageDep
from rxguard.api.schemas import NameOut, Open, PackSummary, Page, SuggestionOut
from rxguard.knowledge.loader import load_all
from rxguard.knowledge.names import resolve_drug, suggest
from rxguard.knowledge.summary import info_dict

router = APIRouter(prefix=API_PREFIX, tags=["knowledge"])
DrugPath = Path(min_length=1, max_length=200, description="Any name of the drug (INN, brand, Chinese name…)")


def _summary(name: str) -> dict[str, Any]:
    pack = load_all()[name]
    return {
        "name": pack.name,
        "version": pack.meta.version,
        "last_reviewed_on": pack.meta.last_reviewed_on.isoformat(),
        "inn": pack.identity.inn,
        "rules": len(pack.rules),
    }


@router.get(
    "/packs", operation_id="list_packs", response_model=Page[PackSummary], responses=problem_responses(401, 422)
)
def list_packs(user: UserDep, page: PageDep) -> dict[str, Any]:
    """Installed knowledge packs with version, review date and rule count."""
    user.require("read")
    return page.page([_summary(name) for name in sorted(load_all())])


@router.get("/packs/{drug}", operation_id="get_pack", response_model=Open, responses=problem_responses(401, 404, 422))
def get_pack(user: UserDep, drug: Annotated[str, DrugPath]) -> dict[str, Any]:
    """A drug's pack: names, products, rules needing review, sources and recorded conflicts."""
    user.require("read")
    return info_dict(load_all()[resolve_drug(drug).drug])


@router.get(
    "/names/resolve", operation_id="resolve_name", response_model=NameOut, responses=problem_responses(401, 404, 422)
)
def resolve_name(
    user: UserDep, q: Annotated[str, Query(min_length=1, max_length=200, description="A drug name as typed")]
) -> dict[str, Any]:
    """Resolve a drug name (INN, brand, biosimilar, Chinese name, misspelling) to rxguard's drug."""
    user.require("read")
    r = resolve_drug(q)
    return {
        "drug": r.drug, "display": r.display, "matched": r.matched, "via": r.via, "product": r.product,
        "program": r.program, "confidence": r.confidence, "verified": r.verified,
    }  # fmt: skip


@router.get(
    "/names/suggest",
    operation_id="suggest_names",
    response_model=list[SuggestionOut],
    responses=problem_responses(401, 422),
)
def suggest_names(
    user: UserDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="A drug name as typed")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[dict[str, Any]]:
    """Ranked names the input may have meant (displayable names only)."""
    user.require("read")
    return [{"drug": s.drug, "display": s.display, "score": s.score} for s in suggest(q, limit=limit)]
