"""CDS Hooks discovery describes the services with the loaded packs' drugs, not with words in the code."""

from __future__ import annotations

import dataclasses

from rxguard.cds_hooks.services import SERVICES, discovery, pack_words
from rxguard.knowledge.loader import load_all


def test_every_description_names_every_loaded_drug_and_risk_model() -> None:
    packs = load_all()
    for service in discovery()["services"]:
        for pack in packs.values():
            assert pack.identity.display["en"] in service["description"], (service["id"], pack.name)
        if service["hook"] == "patient-view":
            for pack in packs.values():
                if pack.risk is not None:
                    assert pack.risk.title in service["description"]


def test_a_pack_added_or_removed_changes_the_description() -> None:
    packs = load_all()
    one = dict(list(packs.items())[:1])
    first = next(iter(one.values()))
    renamed = dataclasses.replace(
        first, identity=first.identity.model_copy(update={"display": {**first.identity.display, "en": "Exampledrug"}})
    )
    for service in SERVICES.values():
        alone = service.describe(one)
        assert all(p.identity.display["en"] not in alone for name, p in packs.items() if name not in one)
        assert "Exampledrug" in service.describe({**packs, "exampledrug": renamed})
    assert pack_words({})["drugs"] == "an rxguard drug"
