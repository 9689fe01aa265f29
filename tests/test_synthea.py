"""`rxguard check` over every Synthea bundle with an injected natalizumab order."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.conftest import SYNTHEA

from rxguard.cli import run

ORDER = {
    "resourceType": "MedicationRequest",
    "id": "injected-order",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "natalizumab 300 MG in 100 mL sodium chloride 0.9% IV infusion"},
    "authoredOn": "2026-01-05",
    "dosageInstruction": [
        {"text": "300 mg IV over 1 hour every 4 weeks", "doseAndRate": [{"doseQuantity": {"value": 300, "unit": "mg"}}]}
    ],
}


def test_check_runs_cleanly_over_every_synthea_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(SYNTHEA.glob("*.json"))
    assert len(files) >= 100, "the shared Synthea bundles must be beside the repository"
    verdicts: dict[str, int] = {}
    for path in files:
        bundle = orjson.loads(path.read_bytes())
        patient_ref = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        bundle["entry"].append({"resource": {**ORDER, "subject": {"reference": patient_ref}}})
        target = tmp_path / path.name
        target.write_bytes(orjson.dumps(bundle))
        code = run(
            ["check", "--drug", "natalizumab", "--bundle", str(target), "--at", "2026-01-05", "--format", "json"]
        )
        out, err = capsys.readouterr()
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        if "deceasedDateTime" in patient or patient.get("deceasedBoolean"):
            assert code == 2 and "is recorded as deceased" in err and "Traceback" not in err, f"{path.name}: {err}"
            verdicts["refused: deceased"] = verdicts.get("refused: deceased", 0) + 1
            continue
        assert code == 0, f"{path.name}: {err}"
        data = orjson.loads(out)
        assert data["coverage"]["version"] == 1
        gaps = {gap["rule"] for gap in data["coverage"]["could_not_verify"]}
        assert gaps <= {f["rule"] for f in data["findings"] if f["could_not_verify"]}, "every gap is a finding"
        assert data["drug"] == "natalizumab"
        verdicts[data["verdict"]] = verdicts.get(data["verdict"], 0) + 1
        for finding in data["findings"]:
            assert finding["sources"], finding["rule"]
    assert sum(verdicts.values()) == len(files)
