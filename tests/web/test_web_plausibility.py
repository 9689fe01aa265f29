"""The infusion form on implausible input: the message beside the field, what was typed kept, nothing stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from test_web_pages import _bag, _infusions, _overridden_amy
from web_demo import sign_in


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dose": "nan"}, "dose"),
        ({"dose": "inf"}, "dose"),
        ({"dose": "1e400"}, "dose"),
        ({"volume_ml": "NaN"}, "volume_ml"),
        ({"dose": "3000", "dose_unit": "g"}, "dose"),
        ({"dose_unit": "mL"}, "dose_unit"),
        ({"lot": "LOT\u202e77"}, "lot"),
        ({"started_at": "0001-01-01T10:00", "prepared_at": "0001-01-01T09:00", "stopped_at": "0001-01-01T11:00",
          "observation_end_at": "0001-01-01T12:00"}, "prepared_at"),
    ],
)  # fmt: skip
def test_an_implausible_bag_is_refused_beside_its_field_and_nothing_is_stored(
    client: TestClient, changes: dict[str, str], field: str
) -> None:
    authorization = _overridden_amy(client)
    token = sign_in(client, "paul")
    before = _infusions(client)
    response = client.post(f"/authorizations/{authorization}/infusion", data=_bag(token, **changes))
    assert response.status_code in (400, 422), response.text[:500]
    assert f'id="{field}-error"' in response.text, response.text[:3000]
    assert _infusions(client) == before


def test_an_unusual_volume_asks_for_confirmation_then_records(client: TestClient) -> None:
    authorization = _overridden_amy(client)
    token = sign_in(client, "paul")
    first = client.post(f"/authorizations/{authorization}/infusion", data=_bag(token, volume_ml="250"))
    assert first.status_code == 422 and 'name="confirm_unusual"' in first.text and "250 mL" in first.text
    confirmed = client.post(
        f"/authorizations/{authorization}/infusion", data=_bag(token, volume_ml="250", confirm_unusual="yes"),
        follow_redirects=False,
    )  # fmt: skip
    assert confirmed.status_code == 303, confirmed.text[:500]
