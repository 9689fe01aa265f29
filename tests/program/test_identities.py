"""Identity links: an identifier resolves only in the namespace (issuer, tenant) it was linked in."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from personas import World
from sqlalchemy import select

from rxguard.errors import ConflictError, InputError, NotFoundError
from rxguard.program import identities
from rxguard.program.identities import FHIR_ID_SYSTEM, PATIENT_KEY_SYSTEM, Identifier, Namespace
from rxguard.store.models import AuditEntry

A, B = Namespace("https://ehr-a.test"), Namespace("https://ehr-b.test")
values = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=40)


def test_the_same_value_from_two_issuers_names_two_patients(world: World) -> None:
    with world.tx() as s:
        identities.link_patient(s, patient_key="pat_amy", namespace=A, identifier=Identifier(FHIR_ID_SYSTEM, "123"),
                                at=world.at, actor="admin")  # fmt: skip
    with world.tx() as s:
        assert identities.resolve_patient(s, A, [Identifier(FHIR_ID_SYSTEM, "123")]) == "pat_amy"
        assert identities.resolve_patient(s, B, [Identifier(FHIR_ID_SYSTEM, "123")]) is None
        assert identities.resolve_patient(s, Namespace(A.issuer, "t1"), [Identifier(FHIR_ID_SYSTEM, "123")]) is None
        # A program key is not an EHR id, and an EHR cannot name patients by program key.
        assert identities.resolve_patient(s, A, [Identifier(FHIR_ID_SYSTEM, "pat_amy")]) is None
        assert identities.resolve_patient(s, A, [Identifier(PATIENT_KEY_SYSTEM, "pat_amy")]) is None
        # A signed-in user (no namespace) may use the program key.
        assert identities.resolve_patient(s, None, [Identifier(PATIENT_KEY_SYSTEM, "pat_amy")]) == "pat_amy"
        actions = list(s.execute(select(AuditEntry.action).where(AuditEntry.entity == "external_identity")).scalars())
        assert actions == ["identity.patient-linked"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values, system=st.sampled_from([FHIR_ID_SYSTEM, "http://hospital.example/mrn"]),
       tenant=st.sampled_from(["", "north"]), other_tenant=st.sampled_from(["", "north", "south"]))  # fmt: skip
def test_a_link_resolves_in_its_own_namespace_and_nowhere_else(
    world: World, value: str, system: str, tenant: str, other_tenant: str
) -> None:
    value = value.strip() or "x"
    namespace = Namespace(A.issuer, tenant)
    with world.tx() as s:
        row = identities.link_patient(s, patient_key="pat_amy", namespace=namespace,
                                      identifier=Identifier(system, value), at=world.at, actor="admin")  # fmt: skip
    try:
        with world.tx() as s:
            assert identities.resolve_patient(s, namespace, [Identifier(system, value)]) == "pat_amy"
            expected = "pat_amy" if other_tenant == tenant else None
            assert identities.resolve_patient(s, Namespace(A.issuer, other_tenant), [Identifier(system, value)]) == (
                expected
            )
            assert identities.resolve_patient(s, Namespace(B.issuer, tenant), [Identifier(system, value)]) is None
    finally:
        with world.tx() as s:
            identities.unlink(s, identity_id=row.id, at=world.at, actor="admin")


def test_a_second_link_of_the_same_identifier_is_refused_without_naming_the_holder(world: World) -> None:
    ident = Identifier("http://hospital.example/mrn", "42")
    with world.tx() as s:
        identities.link_patient(s, patient_key="pat_amy", namespace=A, identifier=ident, at=world.at, actor="admin")
    with pytest.raises(ConflictError) as refused, world.tx() as s:
        identities.link_patient(s, patient_key="pat_amy", namespace=A, identifier=ident, at=world.at, actor="admin")
    assert "pat_amy" not in str(refused.value)
    with world.tx() as s:  # another issuer may use the same value for its own patient
        identities.link_patient(s, patient_key="pat_amy", namespace=B, identifier=ident, at=world.at, actor="admin")


def test_identifiers_that_name_two_patients_resolve_to_nobody(world: World) -> None:
    with world.tx() as s:
        from rxguard.program import participants

        participants.register_patient(s, key="pat_zoe", name="Zoe", at=world.at, actor="admin")
        identities.link_patient(s, patient_key="pat_amy", namespace=A, identifier=Identifier("mrn", "1"),
                                at=world.at, actor="admin")  # fmt: skip
        identities.link_patient(s, patient_key="pat_zoe", namespace=A, identifier=Identifier("ssn", "9"),
                                at=world.at, actor="admin")  # fmt: skip
    with world.tx() as s:
        assert identities.resolve_patient(s, A, [Identifier("mrn", "1"), Identifier("ssn", "9")]) is None
        assert identities.resolve_patient(s, A, [Identifier("mrn", "1"), Identifier("ssn", "0")]) == "pat_amy"


@pytest.mark.parametrize(
    ("namespace", "identifier", "message"),
    [
        (Namespace(""), Identifier("s", "v"), "issuer"),
        (A, Identifier("s", " v"), "value"),
        (A, Identifier("s", "v\x00"), "control"),
        (A, Identifier(PATIENT_KEY_SYSTEM, "pat_amy"), "own keys"),
        (A, Identifier("s", "v" * 129), "longer"),
    ],
)
def test_malformed_identifiers_are_refused_with_what_is_wrong(
    world: World, namespace: Namespace, identifier: Identifier, message: str
) -> None:
    with pytest.raises(InputError, match=message), world.tx() as s:
        identities.link_patient(s, patient_key="pat_amy", namespace=namespace, identifier=identifier, at=world.at,
                                actor="admin")  # fmt: skip


def test_unknown_patient_or_link_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError), world.tx() as s:
        identities.link_patient(s, patient_key="pat_nobody", namespace=A, identifier=Identifier("s", "v"),
                                at=world.at, actor="admin")  # fmt: skip
    with pytest.raises(NotFoundError), world.tx() as s:
        identities.unlink(s, identity_id="nope", at=world.at, actor="admin")
