"""The core knows no drug: no pack's drug, product, program or own lab is named in a core module.

Drug specifics live in packs (src/rxguard/packs/<drug>/); the engine, facts reader, program,
store and interfaces read them from there. The names come from the loaded packs themselves, so a
new pack's names are checked without editing this test, plus the words the knowledge-in-packs
issue listed (JCV, PML, EDSS).
"""

from __future__ import annotations

import re
from pathlib import Path

from rxguard.knowledge.loader import load_all

SRC = Path(__file__).resolve().parents[1] / "src" / "rxguard"
LISTED = ("jcv", "pml", "edss", "touch prescribing")


def _names() -> set[str]:
    names: set[str] = set(LISTED)
    for pack in load_all().values():
        identity = pack.identity
        names |= {identity.id, identity.inn, *identity.former_names}
        for product in identity.products:
            names.add(product.name)
            if product.program:
                names.add(product.program)
        names |= {a.text for a in identity.aliases if a.kind != "program" or " " in a.text}
    return {n.lower() for n in names if len(n) >= 3}


def test_no_core_module_names_a_drug_product_or_program_of_a_pack() -> None:
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(n) for n in sorted(_names(), key=len, reverse=True)) + r")(?![\w])", re.I
    )
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "packs") in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = pattern.search(line)
            if match:
                found.append(f"{path.relative_to(SRC.parent)}:{number}: {match.group(0)!r}")
    assert found == [], "drug-specific words in the core (move them into the pack):\n" + "\n".join(found)
