"""`rxguard check` and `rxguard packs`: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rxguard.cli import run
from rxguard.facts.builder import build_bundle

AT = "2026-01-05"


@pytest.fixture
def bundle_file(tmp_path: Path) -> Path:
    from datetime import date

    patient = {"age": 40, "sex": "female", "conditions": [{"text": "Multiple sclerosis", "onset": "2015-01-01"}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(build_bundle(patient, at=date(2026, 1, 5), drug="natalizumab")))
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_json_contract_and_resolution(capsys: pytest.CaptureFixture[str], bundle_file: Path) -> None:
    code, out, err = cli(
        capsys,
        "check",
        "--drug",
        "Tysabri",
        "--bundle",
        str(bundle_file),
        "--at",
        AT,
        "--jurisdiction",
        "US",
        "--format",
        "json",
    )
    assert code == 0, err
    data = orjson.loads(out)
    assert data["drug"] == "natalizumab" and data["resolved_from"] == "Tysabri"
    assert data["jurisdiction"] == "US" and data["at"] == AT
    assert data["verdict"] in ("contraindicated", "hold", "caution", "ok")
    assert data["pack"]["name"] == "natalizumab"


def test_check_text_report(capsys: pytest.CaptureFixture[str], bundle_file: Path) -> None:
    code, out, _ = cli(
        capsys, "check", "--drug", "米伐木肽", "--bundle", str(bundle_file), "--at", AT, "--jurisdiction", "EU"
    )
    assert code == 0
    assert "mifamurtide" in out and "Verdict:" in out


def test_a_checklist_yes_holds_the_dose(capsys: pytest.CaptureFixture[str], bundle_file: Path, tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text('{"new-or-worsening-symptoms": true}')
    code, out, _ = cli(
        capsys,
        "check",
        "--drug",
        "natalizumab",
        "--bundle",
        str(bundle_file),
        "--at",
        AT,
        "--answers",
        str(answers),
        "--format",
        "json",
    )
    assert code == 0
    assert orjson.loads(out)["verdict"] in ("hold", "contraindicated")


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["--bundle", "missing.json"], "does not exist"),
        ("not json", [], "not valid JSON"),
        ('{"resourceType": "Observation"}', [], "not a FHIR R4 Bundle"),
        ('{"resourceType": "Bundle", "entry": []}', [], "no Patient"),
        ("BUNDLE", ["--drug", "aspirinx"], "no pack"),
        ("BUNDLE", ["--at", "2026-02-30"], "not a date"),
        ("BUNDLE", ["--jurisdiction", "CN"], "not known"),
        ("BUNDLE", ["--answers", "ANSWERS:[true]"], "JSON object"),
        ("BUNDLE", ["--answers", 'ANSWERS:{"nope": true}'], "not a natalizumab question"),
        ("BUNDLE", ["--answers", 'ANSWERS:{"active-infection": "yes"}'], "true (yes) or false"),
        ("BUNDLE", ["--format", "xml"], "--format"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(capsys, tmp_path, bundle_file, setup, args, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "in.json"
    if setup == "BUNDLE":
        path = bundle_file
    elif setup is not None:
        path.write_text(setup)
    final = ["check", "--drug", "natalizumab", "--bundle", str(path), "--at", AT]
    for arg in args:
        if arg.startswith("ANSWERS:"):
            answers = tmp_path / "answers.json"
            answers.write_text(arg.removeprefix("ANSWERS:"))
            arg = str(answers)
        final.append(arg)
    # later options override earlier ones
    code, out, err = cli(capsys, *final)
    assert code == 2
    assert message.lower() in err.lower()
    assert "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_unknown_drug_gets_suggestions(capsys: pytest.CaptureFixture[str], bundle_file: Path) -> None:
    code, _, err = cli(capsys, "check", "--drug", "natalizumap", "--bundle", str(bundle_file), "--at", AT)
    assert code in (0, 2)
    if code == 2:
        assert "natalizumab" in err


def test_packs_validate_test_list_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "packs", "validate")
    assert code == 0, err
    assert "natalizumab" in out and "mifamurtide" in out
    code, out, _ = cli(capsys, "packs", "test")
    assert code == 0, out
    assert " 0 failed" in out
    code, out, _ = cli(capsys, "packs", "list")
    assert code == 0 and "natalizumab" in out
    code, out, _ = cli(capsys, "info", "Tyruko", "--format", "json")
    data = orjson.loads(out)
    assert code == 0 and data["name"] == "natalizumab" and data["rules"] > 10 and data["conflicts"]


def test_check_bundles_writes_one_line_per_file_and_goes_on_after_a_bad_one(
    capsys: pytest.CaptureFixture[str], bundle_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("a.json", "c.json"):
        (folder / name).write_bytes(bundle_file.read_bytes())
    (folder / "b.json").write_text('{"resourceType": "Patient"}')
    (folder / "notes.txt").write_text("not a bundle, not read")
    code, out, _ = cli(capsys, "check", "--drug", "Tysabri", "--bundles", str(folder), "--at", AT)
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert code == 2  # a file failed; every other file was still assessed
    assert [line["file"] for line in lines] == ["a.json", "b.json", "c.json"]
    assert "not a FHIR R4 Bundle" in lines[1]["error"] and "verdict" not in lines[1]
    code, single, _ = cli(
        capsys, "check", "--drug", "Tysabri", "--bundle", str(bundle_file), "--at", AT, "--format", "json"
    )
    assert code == 0
    assert (
        {k: v for k, v in lines[0].items() if k != "file"}
        == orjson.loads(single)
        == {k: v for k, v in lines[2].items() if k != "file"}
    )


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "either --bundle FILE"),
        (["--bundle", "x.json", "--bundles", "."], "either --bundle FILE"),
        (["--bundles", "no-such-folder"], "is not a folder"),
        (["--bundles", ".", "--format", "json"], "does not go with --bundles"),
    ],
)
def test_check_bundle_arguments_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, "check", "--drug", "Tysabri", "--at", AT, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, could_not_verify", [("HIV ruled out", True), ("HIV infection", False)])
def test_text_report_never_states_an_unverified_finding_as_found(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, could_not_verify: bool
) -> None:
    """A rule that could not be verified shows its message as what applies if it does, not as what the record shows."""
    from datetime import date

    patient = {"age": 40, "sex": "female", "conditions": [{"text": "Multiple sclerosis"}, {"text": text}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(build_bundle(patient, at=date(2026, 1, 5), drug="natalizumab")))
    code, out, _ = cli(
        capsys, "check", "--drug", "natalizumab", "--bundle", str(path), "--at", AT, "--jurisdiction", "EU"
    )
    assert code == 0
    report = " ".join(out.split())
    assert ("COULD NOT VERIFY" in report) is could_not_verify
    assert ("If it applies: The record shows a condition that weakens" in report) is could_not_verify
    assert "The record shows a condition that weakens" in report


@pytest.mark.parametrize("text, could_not_verify", [("HIV ruled out", True), ("HIV infection", False)])
def test_cds_card_never_states_an_unverified_finding_as_found(text: str, could_not_verify: bool) -> None:
    """The CDS card detail of a rule that could not be verified words its message as what applies if it does."""
    from datetime import date

    from rxguard.cds_hooks.cards import _finding_md
    from rxguard.engine import assess, reader_for
    from rxguard.knowledge.loader import load_all

    patient = {"age": 40, "sex": "female", "conditions": [{"text": "Multiple sclerosis"}, {"text": text}]}
    bundle = build_bundle(patient, at=date(2026, 1, 5), drug="natalizumab")
    packs = load_all()
    a = assess(packs["natalizumab"], reader_for(packs).read(bundle), at=date(2026, 1, 5), jurisdiction="EU")
    (finding,) = [f for f in a.findings if f.rule_id == "natalizumab.immunocompromising-condition"]
    detail = "\n".join(_finding_md(finding))
    assert finding.could_not_verify is could_not_verify
    assert ("**If it applies:** The record shows" in detail) is could_not_verify
    assert ("**Could not verify:**" in detail) is could_not_verify
