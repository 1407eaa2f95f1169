"""The random-sample pages: draw, reproduce, record re-audit results, export; roles and costs."""

from __future__ import annotations

import csv
import io

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.factories import T0
from tests.helpers import count_statements, flashes, page, post_form
from tests.integration.test_sampling import _make_submitted_round, approved  # noqa: F401
from tracker.models import (
    AuditEvent,
    AuditSample,
    AuditSampleItem,
    ItemStatus,
    Review,
    ReviewDecision,
    SampleResult,
)
from tracker.services import sampling

SAMPLES = "/review/samples"


@pytest.fixture
def reviewed(db_session, bureau, approved):  # noqa: F811
    """The approved items, each with the submission round a reopen needs."""
    for item in approved:
        _make_submitted_round(db_session, item, bureau.user("chief"))
    db_session.commit()
    return approved


def get_streamed(client: FlaskClient, url: str):
    """GET and read the body as a server does, in the request's own context: (response, streamed,
    body).

    The conftest client puts the test's context back as soon as the view returns, but a
    `stream_with_context` body pops the request's context only once it is read.
    """
    token = _cv_app.set(None)
    try:
        response = FlaskClient.open(client, url)  # not the conftest override, see above
        streamed = response.is_streamed  # reading the body buffers it
        body = response.get_data()
    finally:
        _cv_app.reset(token)
    return response, streamed, body


def draw(client, data: dict, **kwargs):
    return post_form(client, SAMPLES, data, **kwargs)


def drawn_ids(response) -> list[int]:
    return [int(row["data-item"]) for row in page(response).select("#sample-items tbody tr")]


def sample_from(response, session) -> AuditSample:
    assert response.status_code == 303
    sample_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return session.get(AuditSample, sample_id)


def entries(session, sample) -> list[AuditSampleItem]:
    return list(
        session.scalars(
            select(AuditSampleItem)
            .where(AuditSampleItem.sample_id == sample.id)
            .order_by(AuditSampleItem.position)
        )
    )


def test_draw_through_the_page_same_seed_same_items(inspector_client, db_session, clock, reviewed):
    first = sample_from(draw(inspector_client, {"size": "6", "seed": "2026-双随机"}), db_session)
    second = sample_from(draw(inspector_client, {"size": "6", "seed": "2026-双随机"}), db_session)
    assert first.id != second.id and first.seed == "2026-双随机"
    first_page = inspector_client.get(f"{SAMPLES}/{first.id}")
    assert first_page.status_code == 200
    ids = drawn_ids(first_page)
    assert len(ids) == 6 and ids == drawn_ids(inspector_client.get(f"{SAMPLES}/{second.id}"))
    assert ids == [e.item_id for e in entries(db_session, first)]
    soup = page(first_page)
    reproduce = soup.select_one("#reproduce")
    assert reproduce["data-identical"] == "true" and reproduce["data-same-population"] == "true"
    assert "random.Random(seed).sample(ids, k)" in reproduce.get_text()
    assert soup.select_one("[data-seed]").get_text() == "2026-双随机"
    assert soup.select_one("[data-population-hash]").get_text() == first.population_hash
    assert soup.select_one("[data-population]")["data-population"] == "40"
    # The draw is in the audit log with the recorded items.
    event = db_session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "sample.drawn", AuditEvent.object_id == str(first.id)
        )
    )
    assert event.data["items"] == ids


def test_draw_with_percent_and_filters(inspector_client, db_session, bureau, clock, reviewed):
    response = draw(
        inspector_client,
        {"percent": "25", "unit": str(bureau.station.id), "family": "recording", "period": "2026"},
    )
    sample = sample_from(response, db_session)
    assert sample.request == {
        "size": None,
        "percent": "25",
        "period": "2026",
        "family": "recording",
        "unit_id": bureau.station.id,
    }
    assert sample.population == 10 and len(entries(db_session, sample)) == 3
    assert len(sample.seed) == 16  # generated


def test_a_changed_population_shows_in_the_reproduce_section(
    inspector_client, db_session, clock, reviewed
):
    sample = sample_from(draw(inspector_client, {"size": "5", "seed": "s"}), db_session)
    reviewed[-1].status = ItemStatus.RETURNED  # leaves the population
    db_session.commit()
    reproduce = page(inspector_client.get(f"{SAMPLES}/{sample.id}")).select_one("#reproduce")
    assert reproduce["data-same-population"] == "false"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "size"),  # neither a size nor a percentage
        ({"size": "5", "percent": "5"}, "size"),
        ({"size": "0"}, "size"),
        ({"size": "two"}, "size"),  # not a number: the form's own check
        ({"percent": "150"}, "percent"),
        ({"size": "5", "seed": "x" * 65}, "seed"),
    ],
)
def test_validation_errors_are_shown_next_to_their_field(
    inspector_client, db_session, clock, reviewed, data, field
):
    before = db_session.scalar(select(AuditSample.id).limit(1))
    response = draw(inspector_client, data)
    assert response.status_code == 400
    soup = page(response)
    assert soup.select_one(f"#{field}.is-invalid") is not None
    assert soup.select_one(f"#{field}-error").get_text(strip=True)
    assert db_session.scalar(select(AuditSample.id).limit(1)) == before is None


def test_an_empty_population_is_a_form_error(inspector_client, db_session, bureau, clock, reviewed):
    response = draw(inspector_client, {"size": "5", "unit": str(bureau.legal.id)})
    assert response.status_code == 400
    assert page(response).select("[data-form-error]")
    assert db_session.scalar(select(AuditSample.id).limit(1)) is None


def test_record_confirmed_and_problem(inspector_client, db_session, bureau, clock, reviewed):
    sample = sample_from(draw(inspector_client, {"size": "3", "seed": "r"}), db_session)
    first, second, _third = entries(db_session, sample)
    url = f"{SAMPLES}/{sample.id}"

    response = post_form(
        inspector_client, f"{url}/items/{first.id}", {"result": "confirmed"}, form_url=url
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{url}#entry-{first.id}")
    db_session.expire_all()
    assert (
        first.result == SampleResult.CONFIRMED
        and first.checked_by_id == bureau.user("inspector").id
    )
    assert first.item.status == ItemStatus.APPROVED

    # A problem needs a note: refused, flashed, nothing changed.
    refused = post_form(
        inspector_client,
        f"{url}/items/{second.id}",
        {"result": "problem", "note": "  "},
        form_url=url,
        follow_redirects=True,
    )
    assert refused.status_code == 200 and flashes(refused)
    db_session.expire_all()
    assert second.result == SampleResult.PENDING and second.item.status == ItemStatus.APPROVED

    post_form(
        inspector_client,
        f"{url}/items/{second.id}",
        {"result": "problem", "note": "照片缺少日期"},
        form_url=url,
    )
    db_session.expire_all()
    assert second.result == SampleResult.PROBLEM and second.note == "照片缺少日期"
    assert second.item.status == ItemStatus.RETURNED  # reopened: back to its unit
    reopen = db_session.scalar(select(Review).where(Review.item_id == second.item_id))
    assert reopen.decision == ReviewDecision.REOPEN and reopen.comment == "照片缺少日期"

    soup = page(inspector_client.get(url))
    results = {
        int(r["data-entry"]): r["data-result"] for r in soup.select("#sample-items tr[data-entry]")
    }
    assert results == {first.id: "confirmed", second.id: "problem", _third.id: "pending"}
    assert len(soup.select("[data-result-form]")) == 1  # only the pending entry has a form

    # A recorded result cannot be recorded again.
    again = post_form(
        inspector_client,
        f"{url}/items/{first.id}",
        {"result": "problem", "note": "x"},
        form_url=url,
        follow_redirects=True,
    )
    assert flashes(again)
    db_session.expire_all()
    assert first.result == SampleResult.CONFIRMED

    # The list counts the results of the sample.
    row = page(inspector_client.get(SAMPLES)).select_one(f"#samples tr[data-sample='{sample.id}']")
    assert (row["data-pending"], row["data-confirmed"], row["data-problem"]) == ("1", "1", "1")


def test_an_entry_of_another_sample_is_404(inspector_client, db_session, bureau, reviewed):
    inspector = bureau.user("inspector")
    one = sampling.draw_sample(db_session, actor=inspector, now=T0, size=2, seed="a")
    other = sampling.draw_sample(db_session, actor=inspector, now=T0, size=2, seed="b")
    db_session.commit()
    foreign = entries(db_session, other)[0]
    url = f"{SAMPLES}/{one.id}"
    response = post_form(
        inspector_client, f"{url}/items/{foreign.id}", {"result": "confirmed"}, form_url=url
    )
    assert response.status_code == 404
    missing = post_form(
        inspector_client, f"{url}/items/999999", {"result": "confirmed"}, form_url=url
    )
    assert missing.status_code == 404


def test_export_csv(inspector_client, db_session, bureau, clock, reviewed):
    sample = sample_from(draw(inspector_client, {"size": "4", "seed": "csv-seed"}), db_session)
    first = entries(db_session, sample)[0]
    url = f"{SAMPLES}/{sample.id}"
    post_form(
        inspector_client,
        f"{url}/items/{first.id}",
        {"result": "problem", "note": "=1+1 缺页"},
        form_url=url,
    )
    response, streamed, body = get_streamed(inspector_client, f"{url}/export.csv")
    assert response.status_code == 200 and streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header = {row[0]: row[1] for row in rows[:8] if row}
    assert header["seed"] == "csv-seed"
    assert header["population"] == "40"
    assert header["population_hash"] == sample.population_hash
    assert '"size": 4' in header["request"]
    start = rows.index(next(r for r in rows if r[:2] == ["position", "item_id"]))
    data = [dict(zip(rows[start], row, strict=True)) for row in rows[start + 1 :]]
    assert [int(r["item_id"]) for r in data] == [e.item_id for e in entries(db_session, sample)]
    assert data[0]["result"] == "problem" and data[0]["note"] == "'=1+1 缺页"  # not a formula
    assert data[0]["status"] == "returned" and {r["result"] for r in data[1:]} == {"pending"}


@pytest.mark.parametrize("role", ["chief", "staff", "leader"])
def test_other_roles_are_refused(app, db_session, bureau, reviewed, role):
    from tests.conftest import signed_in_client

    sample = sampling.draw_sample(
        db_session, actor=bureau.user("inspector"), now=T0, size=2, seed="x"
    )
    db_session.commit()
    entry = entries(db_session, sample)[0]
    client = signed_in_client(app, bureau.user(role))
    for url in (SAMPLES, f"{SAMPLES}/{sample.id}", f"{SAMPLES}/{sample.id}/export.csv"):
        assert client.get(url).status_code == 403, url
    token_page = "/items/"  # any page with a CSRF token the role may see
    assert post_form(client, SAMPLES, {"size": "2"}, form_url=token_page).status_code == 403
    response = post_form(
        client,
        f"{SAMPLES}/{sample.id}/items/{entry.id}",
        {"result": "confirmed"},
        form_url=token_page,
    )
    assert response.status_code == 403
    db_session.expire_all()
    assert entry.result == SampleResult.PENDING


def test_missing_sample_is_404_and_admin_may_enter(admin_client, inspector_client, reviewed):
    assert inspector_client.get(f"{SAMPLES}/999999").status_code == 404
    assert inspector_client.get(f"{SAMPLES}/999999/export.csv").status_code == 404
    assert admin_client.get(SAMPLES).status_code == 200


def test_posts_without_a_csrf_token_are_refused(inspector_client, db_session, bureau, reviewed):
    assert inspector_client.post(SAMPLES, data={"size": "3"}).status_code == 400
    sample = sampling.draw_sample(
        db_session, actor=bureau.user("inspector"), now=T0, size=1, seed="c"
    )
    db_session.commit()
    entry = entries(db_session, sample)[0]
    response = inspector_client.post(
        f"{SAMPLES}/{sample.id}/items/{entry.id}", data={"result": "confirmed"}
    )
    assert response.status_code == 400
    db_session.expire_all()
    assert entry.result == SampleResult.PENDING


def test_the_queue_links_to_samples_and_packages(inspector_client, reviewed):
    links = [a["href"] for a in page(inspector_client.get("/review/")).select("#review-links a")]
    assert links == [SAMPLES, "/review/package"]


def test_fixed_statement_counts(inspector_client, db_session, bureau, reviewed):
    inspector = bureau.user("inspector")
    small = sampling.draw_sample(db_session, actor=inspector, now=T0, size=3, seed="small")
    large = sampling.draw_sample(db_session, actor=inspector, now=T0, size=30, seed="large")
    checked = entries(db_session, large)[:5]
    for entry in checked:
        sampling.record_result(db_session, actor=inspector, entry=entry, result="confirmed", now=T0)
    db_session.commit()

    def statements(url: str) -> int:
        inspector_client.get(url)  # warm up (session, caches)
        with count_statements() as counter:
            assert inspector_client.get(url).status_code == 200
        return counter.count

    assert statements(f"{SAMPLES}/{small.id}") == statements(f"{SAMPLES}/{large.id}")
    one_sample = statements(SAMPLES)
    for n in range(5):
        sampling.draw_sample(db_session, actor=inspector, now=T0, size=2, seed=f"more-{n}")
    db_session.commit()
    assert statements(SAMPLES) == one_sample
