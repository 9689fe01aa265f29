"""A pack's identity card: names, products, rule counts, sources and conflicts.

Shared by ``rxguard info`` and ``GET /api/v1/packs/{drug}`` so both say the same.
"""

from __future__ import annotations

from rxguard.knowledge.loader import Pack


def info_dict(pack: Pack) -> dict[str, object]:
    ident = pack.identity
    return {
        "name": pack.name,
        "version": pack.meta.version,
        "last_reviewed_on": pack.meta.last_reviewed_on.isoformat(),
        "inn": ident.inn,
        "display": ident.display,
        "atc": ident.atc,
        "products": [
            {
                "id": p.id,
                "name": p.name,
                "proper_name": p.proper_name,
                "kind": p.kind,
                "jurisdictions": p.jurisdictions,
                "program": p.program,
            }
            for p in ident.products
        ],
        "former_names": ident.former_names,
        "chinese_names": [{"name": c.name, "verified": c.verified} for c in ident.chinese_names],
        "rules": len(pack.rules),
        "rules_needing_review": [r.id for r in pack.rules if r.needs_review],
        "protocol_rules": [r.id for r in pack.rules if r.protocol],
        "sources": [
            {
                "id": s.id,
                "title": s.title,
                "jurisdiction": s.jurisdiction,
                "version": s.version,
                "tier": s.tier,
                "verified": s.verified,
                "url": s.url,
            }
            for s in pack.sources.values()
        ],
        "conflicts": [
            {"id": c.id, "topic": c.topic, "kind": c.kind, "resolution": c.resolution, "rules": c.rules}
            for c in pack.conflicts
        ],
        "vignettes": sum(len(v.vignettes) for v in pack.vignette_files),
    }
