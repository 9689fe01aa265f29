"""The vial in hand against the product the pack describes: its code on the carton and its expiry.

A nurse records the product code printed on the carton (a US NDC, an EU
marketing-authorisation number) and the vial's expiry date. The codes a
product may carry are the pack's (``identifiers`` of the product in
``pack.yaml``); this module knows only their shapes. A code that belongs to
another product of the pack, or to none, is refused; a former code is
accepted with a warning; a product whose pack declares no carton code, or a
record without a code or an expiry, says it could not verify — never a
silent pass. A vial used (diluted or reconstituted) after its expiry is
refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from rxguard.knowledge.schema import Product

#: Identifier kinds (``pack.yaml`` product ``identifiers`` keys) that are printed on the carton.
CARTON_CODE_KINDS = ("ndc", "eu")
_NDC = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


@dataclass(frozen=True)
class CartonCode:
    kind: str
    code: str
    former: bool


def carton_codes(product: Product) -> list[CartonCode]:
    """The codes the pack declares for this product's carton (``ndc``, ``ndc-former``, ``eu``, ``eu-…``)."""
    found = []
    for key, value in product.identifiers.items():
        kind = key.split("-", 1)[0]
        if kind in CARTON_CODE_KINDS:
            found.append(CartonCode(key, value, key.endswith("-former")))
    return found


def spellings(code: str) -> set[str]:
    """Every way a code may be typed or scanned, compared without case, spaces, slashes or hyphens.

    A 10-digit NDC in its labeler-product-package form is also read in the 11-digit 5-4-2 form.
    """
    text = code.strip().upper()
    out = {re.sub(r"[^0-9A-Z]", "", text)}
    match = _NDC.match(text)
    if match:
        labeler, item, package = match.groups()
        out.add(labeler.zfill(5) + item.zfill(4) + package.zfill(2))
    return out


def check_vial(
    product: Product,
    others: list[Product],
    *,
    code: str,
    expires_at: datetime | None,
    prepared_at: datetime,
) -> tuple[list[str], list[str]]:
    """(reasons to refuse, warnings) for the vial: its carton code against the pack, its expiry at preparation."""
    refuse: list[str] = []
    warn: list[str] = []
    if expires_at is None:
        warn.append("vial-expiry: could not verify the vial's expiry date (not recorded); check it on the carton")
    elif prepared_at >= expires_at:
        refuse.append(
            f"vial-expiry: the vial expired ({expires_at:%Y-%m-%d %H:%M} UTC) before the dose was prepared "
            f"({prepared_at:%Y-%m-%d %H:%M} UTC); do not use it — discard it and record the wasted bag"
        )
    declared = carton_codes(product)
    typed = spellings(code) if code.strip() else set()
    if not code.strip():
        warn.append(f"product-code: could not verify the product code of the {product.name} carton (not recorded)")
    elif not declared:
        warn.append(
            f"product-code: could not verify {code.strip()!r}: the pack declares no carton code for {product.name}"
        )
    else:
        mine = [c for c in declared if spellings(c.code) & typed]
        if mine:
            if all(c.former for c in mine):
                warn.append(
                    f"product-code: {code.strip()} is a former code of {product.name}; check the carton and its expiry"
                )
        else:
            theirs = [p.name for p in others if any(spellings(c.code) & typed for c in carton_codes(p))]
            expected = ", ".join(c.code for c in declared if not c.former)
            if theirs:
                refuse.append(
                    f"product-code: {code.strip()} is the code of {theirs[0]}, not {product.name} "
                    f"(expected {expected}); use the product the dose is authorized for"
                )
            else:
                refuse.append(
                    f"product-code: {code.strip()} is not a code of {product.name} (expected {expected}); "
                    "check the carton — a vial that is not this product is not infused"
                )
    return refuse, warn
