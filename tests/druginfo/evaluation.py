"""Scoring `rxguard ask` on a labelled question file: drug, topic and key facts, per language.

An item is ``{q, drug, topic, items, facts}``: the drug the question is about (null: rxguard
has no pack for it), the monograph section the answer must come from (null: rxguard must
decline), optionally the statement ids of which the direct answer must quote at least one,
and key facts, each a phrase (alternatives separated by " | ") that must appear in the
rendered answer. ``python -m tests.druginfo.evaluation FILE`` prints the figures and misses.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from rxguard.druginfo.ask import answer_question
from rxguard.druginfo.formats import render_answer
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.names import find_drugs_in_text, is_cjk

HERE = Path(__file__).parent


def load_items(name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = YAML(typ="safe").load((HERE / name).read_text("utf-8"))
    return items


@dataclass
class Figures:
    n: int = 0
    drug_hits: int = 0
    topic_hits: int = 0
    with_facts: int = 0
    fact_hits: int = 0
    with_items: int = 0
    item_hits: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def drug(self) -> float:
        return self.drug_hits / self.n if self.n else 0.0

    @property
    def topic(self) -> float:
        return self.topic_hits / self.n if self.n else 0.0

    @property
    def facts(self) -> float:
        return self.fact_hits / self.with_facts if self.with_facts else 0.0

    @property
    def items(self) -> float:
        return self.item_hits / self.with_items if self.with_items else 0.0

    def line(self, lang: str) -> str:
        quoted = f", items quoted {self.item_hits}/{self.with_items} ({self.items:.0%})" if self.with_items else ""
        return (
            f"{lang}: {self.n} questions; drug {self.drug:.0%}, topic {self.topic:.0%}, "
            f"key facts {self.fact_hits}/{self.with_facts} ({self.facts:.0%}){quoted}"
        )


def has_fact(text: str, fact: str) -> bool:
    folded = text.casefold()
    return any(alt.strip().casefold() in folded for alt in fact.split("|"))


def evaluate(items: list[dict[str, Any]], packs: Mapping[str, Pack]) -> dict[str, Figures]:
    out = {"en": Figures(), "zh": Figures()}
    for item in items:
        question = item["q"]
        figures = out["zh" if is_cjk(question) else "en"]
        answer = answer_question(question, packs=packs)
        text = render_answer(answer, "text")
        figures.n += 1
        found = find_drugs_in_text(question, packs)
        drug = found[0].drug if found else None
        drug_ok = drug == item["drug"]
        topic = answer.topic if answer.status == "answered" else None
        wanted = item["topic"] if isinstance(item["topic"], list) else [item["topic"]]
        topic_ok = topic in wanted
        facts = item.get("facts") or []
        facts_ok = all(has_fact(text, f) for f in facts)
        expected = set(item.get("items") or ())
        quoted = {i for a in answer.drugs for i in a.direct_from} if answer.status == "answered" else set()
        items_ok = not expected or bool(expected & quoted)
        figures.drug_hits += drug_ok
        figures.topic_hits += topic_ok
        if facts:
            figures.with_facts += 1
            figures.fact_hits += facts_ok
        if expected:
            figures.with_items += 1
            figures.item_hits += items_ok
        if not (drug_ok and topic_ok and facts_ok and items_ok):
            figures.misses.append(
                f"{question!r}: drug {drug} (want {item['drug']}), topic {topic} (want {item['topic']}), "
                f"facts {'ok' if facts_ok else [f for f in facts if not has_fact(text, f)]}"
                + ("" if items_ok else f", quoted {sorted(quoted)} (want one of {sorted(expected)})")
            )
    return out


def main(argv: list[str]) -> int:
    packs = load_all()
    for name in argv or ["tuned.yaml", "heldout.yaml"]:
        if not (HERE / name).exists():
            continue
        print(f"== {name}")
        for lang, figures in evaluate(load_items(name), packs).items():
            print(figures.line(lang))
            for miss in figures.misses:
                print("   miss:", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
