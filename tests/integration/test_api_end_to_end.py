"""A case from the case-handling system to an approved publication item, through the API only."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.factories import make_requirement, seed_official_holidays
from tests.unit.test_filetypes import pdf_bytes
from tracker.services.audit import verify_chain


def test_case_to_approved_publication_through_the_api(
    app, client, db_session, bureau, clock, tmp_path: Path, monkeypatch
):
    monkeypatch.setitem(app.config, "TRACKER_STORAGE", "local")
    monkeypatch.setitem(app.config, "TRACKER_STORAGE_PATH", str(tmp_path / "blobs"))
    seed_official_holidays(db_session)
    # As in the demo catalogue: publish the decision within 20 working days, by the case's unit;
    # and a legal review that only major cases need.
    make_requirement(db_session, "GS-01", title_zh="行政处罚决定公示", title_en="Publication")
    make_requirement(
        db_session, "FZ-01", family="legal_review", applies_to="major", title_en="Legal review"
    )
    db_session.commit()

    def token_of(email: str) -> dict[str, str]:
        runner = app.test_cli_runner()
        result = runner.invoke(args=["tracker", "create-token", "--email", email])
        assert result.exit_code == 0, result.output
        return {"Authorization": f"Bearer {result.stdout.strip().splitlines()[-1]}"}

    chief = token_of("chief@test.example.org")
    inspector = token_of("inspector@test.example.org")

    # 1. The case-handling system registers a case of the food-safety section.
    registered = client.post(
        "/api/v1/cases",
        json={
            "case_no": "余市监处〔2026〕318号",
            "unit": "SEC",
            "decided_on": "2026-10-28",
            "served_on": None,
            "major": False,
            "party": "余杭区某某食品店",
        },
        headers=chief,
    )
    assert registered.status_code == 201, registered.get_data(as_text=True)
    case = registered.get_json()
    assert [i["requirement"]["code"] for i in case["items"]] == ["GS-01"]  # not major: no FZ-01

    # 2. Its publication item, found in the checklist by the case's unit and family.
    listing = client.get("/api/v1/items?unit=SEC&family=publicity&status=open", headers=chief)
    (found,) = [i for i in listing.get_json()["items"] if i["case"] == {
        "id": case["id"], "case_no": "余市监处〔2026〕318号"
    }]  # fmt: skip
    assert found["requirement"]["code"] == "GS-01" and found["due_provisional"] is False
    item_url = f"/api/v1/items/{found['id']}"

    # 3. The screenshot of the publication is uploaded.
    values = MultiDict({"note": "门户网站公示截图"})
    values.add("file", FileStorage(io.BytesIO(pdf_bytes()), filename="公示截图.pdf"))
    boundary, body = encode_multipart(values)
    uploaded = client.post(
        f"{item_url}/evidence",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=chief,
    )
    assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
    (evidence,) = uploaded.get_json()["evidence"]

    # 4. Submitted by the chief, 5. approved by an inspector.
    submitted = client.post(f"{item_url}/submit", json={"note": "已公示"}, headers=chief)
    assert submitted.status_code == 200 and submitted.get_json()["item"]["status"] == "submitted"
    assert (
        client.post(f"{item_url}/review", json={"decision": "approve"}, headers=chief).status_code
        == 403
    )
    approved = client.post(
        f"{item_url}/review", json={"decision": "approve", "comment": "公示及时"}, headers=inspector
    )
    assert approved.status_code == 200, approved.get_data(as_text=True)

    # 6. The approved item with its evidence, review and history.
    detail = client.get(item_url, headers=chief).get_json()
    assert detail["status"] == "approved" and detail["overdue"] is False
    assert detail["case"]["id"] == case["id"]
    (piece,) = detail["evidence"]
    assert piece["sha256"] == hashlib.sha256(pdf_bytes()).hexdigest() == evidence["sha256"]
    assert piece["submitted_round"] == 1
    (review,) = detail["reviews"]
    assert review["decision"] == "approve" and review["reviewer"]["email"] == (
        "inspector@test.example.org"
    )
    history = [(h["action"], h["actor"]) for h in detail["history"]]
    assert [action for action, _actor in history] == [
        "item.approved",
        "item.submitted",
        "evidence.added",
    ]
    assert history[0][1] == bureau.user("inspector").name
    with client.get(piece["download"], headers=inspector) as download:
        assert hashlib.sha256(download.get_data()).hexdigest() == piece["sha256"]

    # Every write went through the services: the audit chain is whole.
    assert verify_chain(db_session) == []
