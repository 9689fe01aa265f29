"""Name resolution: every alias of clinical-facts §4, and near-misses that must not resolve."""

from __future__ import annotations

import pytest

from rxguard.errors import UnknownDrugError
from rxguard.knowledge.loader import Pack, load_all
from rxguard.knowledge.names import find_drugs_in_text, resolve_drug, suggest

# (input, drug, display, via, product, program)
RESOLVES = [
    ("natalizumab", "natalizumab", "natalizumab", "inn", None, None),
    ("Natalizumab", "natalizumab", "natalizumab", "inn", None, None),
    ("TYSABRI", "natalizumab", "TYSABRI", "brand", "tysabri", None),
    ("tysabri", "natalizumab", "TYSABRI", "brand", "tysabri", None),
    ("Tyruko", "natalizumab", "TYRUKO", "biosimilar", "tyruko", None),
    ("natalizumab-sztn", "natalizumab", "natalizumab-sztn", "proper-name", "tyruko", None),
    ("natalizumab sztn", "natalizumab", "natalizumab-sztn", "proper-name", "tyruko", None),
    ("Antegren", "natalizumab", "natalizumab", "former-name", None, None),
    ("AN100226M", "natalizumab", "natalizumab", "development-code", None, None),
    ("那他珠单抗", "natalizumab", "那他珠单抗", "chinese", None, None),
    ("那他珠单抗注射剂", "natalizumab", "那他珠单抗", "chinese", None, None),
    ("L04AG03", "natalizumab", "natalizumab", "atc", None, None),
    ("L04AA23", "natalizumab", "natalizumab", "atc", None, None),
    ("TYRUKO REMS", "natalizumab", "TYRUKO", "program", "tyruko", "TYRUKO REMS"),
    ("TYRUKOREMS", "natalizumab", "TYRUKO", "program", "tyruko", "TYRUKO REMS"),
    ("TOUCH", "natalizumab", "TYSABRI", "program", "tysabri", "TOUCH Prescribing Program"),
    ("mifamurtide", "mifamurtide", "mifamurtide", "inn", None, None),
    ("MEPACT", "mifamurtide", "MEPACT", "brand", "mepact", None),
    ("Mepact 4 mg", "mifamurtide", "MEPACT", "brand", "mepact", None),
    ("米伐木肽", "mifamurtide", "米伐木肽", "chinese", None, None),
    ("L03AX15", "mifamurtide", "mifamurtide", "atc", None, None),
    ("L-MTP-PE", "mifamurtide", "mifamurtide", "alias", None, None),
    ("mivamutide", "mifamurtide", "mifamurtide", "alias", None, None),
    ("miavamuttide", "mifamurtide", "mifamurtide", "alias", None, None),
    ("Mivarintide", "mifamurtide", "mifamurtide", "alias", None, None),
    ("Milvage peptide", "mifamurtide", "mifamurtide", "alias", None, None),
]

FUZZY = [
    ("natalizumb", "natalizumab"),
    ("natalizimab", "natalizumab"),
    ("tysabry", "natalizumab"),
    ("mifamurtid", "mifamurtide"),
    ("mivamutid", "mifamurtide"),
    ("mepacte", "mifamurtide"),
]

# Real, different drugs and ordinary words close to our names: never a silent guess.
NEAR_MISSES = [
    "omalizumab",
    "tocilizumab",
    "ocrelizumab",
    "vedolizumab",
    "natamycin",
    "nateglinide",
    "mifepristone",
    "mitomycin",
    "impact",
    "aspirin",
    "nata",
    "touch screen",
]


@pytest.fixture(params=["small packs", "real packs"])
def packs(request: pytest.FixtureRequest, mini_packs: dict[str, Pack]) -> dict[str, Pack]:
    """Every name test runs on the small test packs and on the installed packs."""
    return mini_packs if request.param == "small packs" else load_all()


@pytest.mark.parametrize(("text", "drug", "display", "via", "product", "program"), RESOLVES)
def test_it_resolves_every_listed_name(
    packs: dict[str, Pack],
    text: str, drug: str, display: str, via: str, product: str | None, program: str | None,
) -> None:  # fmt: skip
    res = resolve_drug(text, packs)
    assert (res.drug, res.display, res.via, res.product, res.program) == (
        drug, display, via, product, program,
    )  # fmt: skip
    assert res.matched == text
    assert res.confidence == 1.0


@pytest.mark.parametrize("text", ["mivamutide", "Milvage peptide", "miavamuttide", "L-MTP-PE"])
def test_an_input_alias_is_never_displayed_and_is_unverified(packs: dict[str, Pack], text: str) -> None:
    res = resolve_drug(text, packs)
    assert res.display == "mifamurtide"
    assert res.verified is False


def test_chinese_names_carry_their_verification_status(packs: dict[str, Pack]) -> None:
    assert resolve_drug("那他珠单抗", packs).verified is False
    assert resolve_drug("米伐木肽", packs).verified is False
    assert resolve_drug("natalizumab", packs).verified is True


@pytest.mark.parametrize(("text", "drug"), FUZZY)
def test_it_resolves_misspellings_by_fuzzy_matching(packs: dict[str, Pack], text: str, drug: str) -> None:
    res = resolve_drug(text, packs)
    assert res.drug == drug
    assert res.via == "fuzzy"
    assert 0.85 <= res.confidence < 1.0


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_do_not_resolve(packs: dict[str, Pack], text: str) -> None:
    with pytest.raises(UnknownDrugError):
        resolve_drug(text, packs)


def test_an_unknown_name_gets_ranked_suggestions_and_advice(packs: dict[str, Pack]) -> None:
    with pytest.raises(UnknownDrugError) as caught:
        resolve_drug("omalizumab", packs)
    assert caught.value.suggestions[0] == "natalizumab"
    assert "rxguard names resolve" in str(caught.value)


def test_an_empty_name_is_refused(packs: dict[str, Pack]) -> None:
    with pytest.raises(UnknownDrugError, match="No drug name"):
        resolve_drug("  ", packs)


def test_suggestions_never_show_an_input_alias(packs: dict[str, Pack]) -> None:
    shown = {s.display for s in suggest("mivamu", packs)}
    assert "mifamurtide" in shown
    assert not shown & {"mivamutide", "miavamuttide", "Mivarintide", "Milvage peptide"}


def test_suggestions_are_ranked_best_first(packs: dict[str, Pack]) -> None:
    scores = [s.score for s in suggest("natalizu", packs)]
    assert scores == sorted(scores, reverse=True)
    assert suggest("zzzz", packs) == []


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("那他珠单抗(Natalizumab)怎么购买", ["natalizumab"]),
        ("What are the contraindications when using mivamutide?", ["mifamurtide"]),
        ("米伐木肽的禁忌症有哪些", ["mifamurtide"]),
        ("How do I enrol in the TYRUKOREMS program?", ["natalizumab"]),
        ("Can mivamutid be given with Tysabri?", ["mifamurtide", "natalizumab"]),
        ("What is the impact of aspirin on touch screens?", []),
        ("Natural remedies for a headache", []),
        ("omalizumab dosing", []),
    ],
)
def test_it_finds_drugs_in_free_text(packs: dict[str, Pack], text: str, drugs: list[str]) -> None:
    assert [r.drug for r in find_drugs_in_text(text, packs)] == drugs


def test_a_program_named_in_text_is_reported(packs: dict[str, Pack]) -> None:
    (res,) = find_drugs_in_text("Who may infuse under TYRUKOREMS?", packs)
    assert res.program == "TYRUKO REMS"
    assert res.product == "tyruko"


def test_no_input_alias_of_an_installed_pack_is_ever_displayed() -> None:
    packs = load_all()
    for pack in packs.values():
        input_only = {a.text for a in pack.identity.aliases if a.kind in ("misspelling", "other")}
        for alias in pack.identity.aliases:
            res = resolve_drug(alias.text, packs)
            assert res.drug == pack.name, alias.text
            assert res.display not in input_only, alias.text
        for text in input_only:
            assert all(s.display != text for s in suggest(text, packs))
