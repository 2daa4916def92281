"""`GET /v1/partners/tiers` at scale: streamed in chunks, paged by `limit`/`offset` with
`X-Total-Count` and an RFC 8288 `Link`, through Django's test client and a live server."""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.http import StreamingHttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from partners.edits import delete_records
from partners.models import PartnerTier
from partners.samples import load_samples
from partners.sync import run_sync
from partners.tokens import create_token
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db

TIERS = "/v1/partners/tiers"
SEED_KEYS = ["name", "tier", "program", "oem", "poc", "notes", "updated_at", "created_at"]
# RFC 8288: `<URI-Reference>; rel="…"`, links separated by commas.
LINK = re.compile(r'\s*<([^>]*)>\s*;\s*rel="([^"]+)"\s*(?:,|$)')


def client_for(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_token(user)[1]}")


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw")
    user.user_permissions.set(Permission.objects.filter(codename="view_partnertier"))
    return user


@pytest.fixture
def api(viewer) -> Client:
    return client_for(viewer)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 5 records, so a handful of records is streamed in several chunks."""
    monkeypatch.setattr("partners.api.CHUNK", 5)


@pytest.fixture
def small_marks(monkeypatch):
    """A mark every 4 records, so a few dozen records have several."""
    monkeypatch.setattr("partners.api.MARK", 4)


@pytest.fixture
def samples():
    result = load_samples([Path(settings.BASE_DIR) / "data" / "partners"])
    assert result is not None and result.applied


def partners(input_dir, count: int, oems: int = 3) -> None:
    rows = [[f"Partner {i:05d}", "Gold", "P", f"OEM {i % oems}", "", ""] for i in range(count)]
    write_csv(input_dir / "partners_many.csv", rows)
    assert run_sync(apply=True).applied


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def links(response) -> dict[str, str]:
    header = response.get("Link", "")
    found = LINK.findall(header)
    assert "".join(m.group() for m in LINK.finditer(header)) == header  # nothing else in it
    return {rel: url for url, rel in found}


def store_records(store: Path) -> list[dict[str, str | None]]:
    """What the store says, OEM by OEM: written by its own renderer, not by the API."""
    data = json.loads(store.read_text())
    return [record for oem in data["oems"] for record in oem["partners"]]


# Streaming.


def test_a_list_longer_than_a_chunk_streams_the_same_records_as_the_store(
    api, samples, store, small_chunks
):
    response = api.get(TIERS)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.streaming and not response.has_header("Content-Length")
    chunks = list(response.streaming_content)
    records = json.loads(b"".join(chunks))
    expected = store_records(store)
    assert len(chunks) == -(-len(expected) // 5) + 1  # one per 5 records ("[" first), "]"
    assert records == expected
    assert all(list(r) == SEED_KEYS for r in records)
    assert response["X-Total-Count"] == str(len(expected)) == str(PartnerTier.objects.count())


def test_streamed_and_whole_bodies_are_the_same_json(api, samples, monkeypatch):
    whole = api.get(TIERS)
    assert not whole.streaming and int(whole["Content-Length"]) == len(whole.content)
    monkeypatch.setattr("partners.api.CHUNK", 5)
    streamed = api.get(TIERS)
    assert streamed.streaming
    assert body(streamed) == whole.content  # byte for byte


def test_the_default_chunk_streams_a_list_of_thousands(api, input_dir):
    partners(input_dir, 2500)
    response = api.get(TIERS)
    assert response.streaming
    records = json.loads(body(response))
    assert len(records) == 2500 == int(response["X-Total-Count"])
    assert [r["name"] for r in records[:2]] == ["Partner 00000", "Partner 00003"]
    assert (records[-1]["oem"], records[-1]["name"]) == ("OEM 2", "Partner 02498")


def test_a_page_that_fits_one_chunk_is_one_body_with_its_length(api, samples, small_chunks):
    response = api.get(TIERS, {"limit": 3})
    assert not response.streaming and int(response["Content-Length"]) == len(response.content)
    assert len(response.json()) == 3


# Pages, X-Total-Count and Link.


@pytest.mark.parametrize("limit", [1, 3, 7, 12, 100])
def test_following_next_links_visits_every_record_exactly_once(api, samples, limit):
    everything = json.loads(body(api.get(TIERS)))
    seen, url, pages = [], f"{TIERS}?limit={limit}", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += json.loads(body(response))
        assert response["X-Total-Count"] == str(len(everything))
        url = links(response).get("next", "")
        pages += 1
    assert seen == everything
    assert pages == -(-len(everything) // limit)


def test_pages_streamed_in_chunks_add_up_to_the_whole_list(api, samples, small_chunks):
    everything = json.loads(body(api.get(TIERS)))
    first = api.get(TIERS, {"limit": 12})
    assert first.streaming  # 12 records: three chunks of 5
    # Read before the next request, as a server does: on PostgreSQL the stream holds the
    # connection until its body is read or closed.
    records = json.loads(body(first))
    rest = api.get(links(first)["next"].replace("limit=12", "limit=100"))
    assert records + json.loads(body(rest)) == everything


def test_links_keep_the_filters_and_say_next_prev_and_first(api, input_dir):
    partners(input_dir, 30)
    query = {"oem": "oem 1", "q": "partner", "tier": "gold", "program": "p", "limit": 4}
    first = api.get(TIERS, {**query, "offset": 0})
    assert first["X-Total-Count"] == "10"
    assert set(links(first)) == {"next"}
    next_url = links(first)["next"]
    assert next_url.startswith("http://testserver/v1/partners/tiers?")
    assert re.search(
        r"\?oem=oem\+1&tier=gold&program=p&q=partner&limit=4&offset=4&after=\w", next_url
    )

    middle = api.get(next_url)
    assert [r["name"] for r in json.loads(body(middle))] == [
        "Partner 00013",
        "Partner 00016",
        "Partner 00019",
        "Partner 00022",
    ]
    assert {rel: query_of(url)["offset"] for rel, url in links(middle).items()} == {
        "next": "8",
        "prev": "0",
        "first": "0",
    }
    assert [rel for rel, url in links(middle).items() if "after" in query_of(url)] == ["next"]
    last = api.get(links(middle)["next"])
    assert len(json.loads(body(last))) == 2 and last["X-Total-Count"] == "10"
    assert set(links(last)) == {"prev", "first"}


def marks_taken(queries) -> int:
    return sum("ROW_NUMBER()" in query["sql"].upper() for query in queries)


@pytest.mark.parametrize("query", [{}, {"oem": "OEM 1"}, {"q": "0001"}, {"oem": "nobody"}])
def test_a_page_at_any_offset_is_that_slice_of_the_whole_list(api, input_dir, small_marks, query):
    partners(input_dir, 30)
    everything = json.loads(body(api.get(TIERS, query)))
    for offset in range(len(everything) + 5):  # past the end by more than a mark
        response = api.get(TIERS, {**query, "limit": 3, "offset": offset})
        assert json.loads(body(response)) == everything[offset : offset + 3], offset
        assert response["X-Total-Count"] == str(len(everything))


def test_marks_are_taken_once_per_state_of_the_table(api, input_dir, viewer, small_marks):
    partners(input_dir, 30)
    deep = {"limit": 3, "offset": 13}
    with CaptureQueriesContext(connection) as first:
        api.get(TIERS, deep)
    with CaptureQueriesContext(connection) as again:
        api.get(TIERS, {**deep, "offset": 22})
    assert (marks_taken(first), marks_taken(again)) == (1, 0)

    doomed = PartnerTier.objects.order_by("oem_key", "name_key").values_list("pk", flat=True)
    delete_records(list(doomed[:2]), user=viewer)  # the marks are now two records off
    everything = json.loads(body(api.get(TIERS)))
    with CaptureQueriesContext(connection) as stale:
        assert json.loads(body(api.get(TIERS, deep))) == everything[13:16]
    with CaptureQueriesContext(connection) as renewed:
        assert json.loads(body(api.get(TIERS, deep))) == everything[13:16]
    assert (marks_taken(stale), marks_taken(renewed)) == (0, 1)


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_a_next_link_s_cursor_keeps_the_page_in_place_across_writes(api, input_dir, viewer):
    partners(input_dir, 12, oems=1)
    first = api.get(TIERS, {"limit": 4})
    names = [r["name"] for r in json.loads(body(first))]
    # Two records of the first page are removed before the next page is read: by offset
    # the next page would skip two records; by the cursor it starts after the last one read.
    doomed = PartnerTier.objects.filter(name__in=names[:2]).values_list("pk", flat=True)
    delete_records(list(doomed), user=viewer)
    second = api.get(links(first)["next"])
    assert [r["name"] for r in json.loads(body(second))] == [
        f"Partner {i:05d}" for i in range(4, 8)
    ]
    assert query_of(links(first)["next"])["offset"] == "4"  # offset still says where it is


@pytest.mark.parametrize("cursor", ["e30", "bm90IGpzb24", "WyJhIl0", "!!", "WyJcdTAwMDAiLCJhIl0"])
def test_a_cursor_that_is_not_from_a_link_is_refused(api, samples, cursor):
    response = api.get(TIERS, {"limit": 3, "after": cursor})
    assert response.status_code in (400, 422) and "after" in response.content.decode()


def test_no_limit_means_every_record_and_no_link(api, samples):
    response = api.get(TIERS, {"offset": 40})
    assert not response.has_header("Link")
    assert len(json.loads(body(response))) == int(response["X-Total-Count"]) - 40


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ({}, 30),
        ({"oem": "OEM 1"}, 10),
        ({"oem": "OEM 1", "limit": 3}, 10),  # a full page: counted
        ({"oem": "OEM 1", "limit": 50}, 10),  # the page reached the end
        ({"oem": "OEM 1", "limit": 3, "offset": 9}, 10),
        ({"oem": "OEM 1", "limit": 3, "offset": 10}, 10),  # past the end: counted
        ({"oem": "OEM 1", "offset": 500}, 10),
        ({"q": "partner 0001", "limit": 2}, 10),
        ({"tier": "silver", "limit": 2}, 0),
    ],
)
def test_x_total_count_is_the_number_of_records_the_filters_match(api, input_dir, query, total):
    partners(input_dir, 30)
    response = api.get(TIERS, query)
    assert response.status_code == 200
    assert response["X-Total-Count"] == str(total)
    expected = max(min(total - query.get("offset", 0), query.get("limit", total)), 0)
    assert len(json.loads(body(response))) == expected


def count_queries(queries) -> int:
    return sum("COUNT(" in query["sql"].upper() for query in queries)


def test_the_total_is_counted_once_until_the_table_is_written(api, input_dir, viewer):
    partners(input_dir, 30)
    page = {"oem": "OEM 1", "limit": 3}
    with CaptureQueriesContext(connection) as first:
        assert api.get(TIERS, page)["X-Total-Count"] == "10"
    with CaptureQueriesContext(connection) as again:
        assert api.get(TIERS, page)["X-Total-Count"] == "10"
    assert (count_queries(first), count_queries(again)) == (1, 0)
    assert api.get(TIERS, {"limit": 3})["X-Total-Count"] == "30"  # other filters, own count

    partners(input_dir, 33)  # a sync adds one record to OEM 1
    assert api.get(TIERS, page)["X-Total-Count"] == "11"
    doomed = PartnerTier.objects.filter(oem="OEM 1").values_list("pk", flat=True)[:2]
    delete_records(list(doomed), user=viewer)  # an edit in the admin
    assert api.get(TIERS, page)["X-Total-Count"] == "9"
    assert api.get(TIERS, {"limit": 3})["X-Total-Count"] == "31"


def test_a_page_is_four_queries_once_its_total_is_counted(api, input_dir):
    partners(input_dir, 30)
    page = {"oem": "OEM 1", "limit": 3, "offset": 3}
    api.get(TIERS, page)  # counts, and notes the token's use
    with CaptureQueriesContext(connection) as queries:
        response = api.get(TIERS, page)
    assert response["X-Total-Count"] == "10" and len(json.loads(body(response))) == 3
    # The token with the throttle's check, the viewer's permissions (Django's two: user and
    # groups), the page from its position with the total kept for the table's state.
    sql = [query["sql"] for query in queries]
    assert len(sql) == 4, sql
    assert "partners_apiauthfailure" in sql[0]
    assert "partners_partnertier" in sql[-1] and "partners_listcount" in sql[-1]


# Failures come before the stream.


def test_refusals_are_json_before_any_streaming(input_dir, django_user_model, small_chunks, caplog):
    partners(input_dir, 30)
    nobody = django_user_model.objects.create_user("nobody", password="pw")
    with caplog.at_level(logging.INFO, logger="partners.api"):
        denied = client_for(nobody).get(TIERS)
        anonymous = Client().get(TIERS)
    assert not denied.streaming and not anonymous.streaming
    assert (denied.status_code, anonymous.status_code) == (403, 401)
    assert denied.json() == {"detail": "Permission denied: this needs the view permission"}
    assert anonymous.json() == {"detail": "Missing or invalid credentials"}
    assert not denied.has_header("X-Total-Count") and not denied.has_header("Link")
    lines = [json.loads(r.message) for r in caplog.records if r.message.startswith("{")]
    assert [line["status"] for line in lines] == [403, 401]


def test_bad_paging_is_a_422_naming_the_parameter(api, samples):
    for query, field in [("limit=0", "limit"), ("offset=-1", "offset"), ("limit=x", "limit")]:
        response = api.get(f"{TIERS}?{query}")
        assert response.status_code == 422 and not response.streaming
        assert response.json()["errors"][0]["field"] == field


def test_a_failing_query_is_a_json_500_before_streaming(api, samples, small_chunks, monkeypatch):
    monkeypatch.setattr("partners.api.time_as_text", lambda column: "no_such_column")
    response = api.get(TIERS, HTTP_X_REQUEST_ID="broken-1")
    assert response.status_code == 500 and not response.streaming
    assert response.json() == {"detail": "Internal server error", "request_id": "broken-1"}


# The log line and the cursor of a stream.


def test_a_streamed_list_logs_its_one_line_when_it_ends(api, samples, small_chunks, caplog):
    with caplog.at_level(logging.INFO, logger="partners.api"):
        response = api.get(TIERS, HTTP_X_REQUEST_ID="stream-1")
        assert not [r for r in caplog.records if r.name == "partners.api"]
        sent = body(response)
    [line] = [json.loads(r.message) for r in caplog.records if r.name == "partners.api"]
    assert line["request_id"] == "stream-1" and line["status"] == 200
    assert line["user"] == "viewer" and line["complete"] is True
    assert line["bytes"] == len(sent) and line["stream_ms"] >= line["latency_ms"] >= 0
    assert abs(float(response["x-latency-ms"]) - line["latency_ms"]) <= 0.01


def test_an_error_mid_stream_is_logged_and_cuts_the_body_short(
    api, samples, small_chunks, monkeypatch, caplog
):
    from partners import api as api_module

    encode = api_module._members
    calls = []

    def fails_on_the_third_chunk(rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return encode(rows)

    monkeypatch.setattr("partners.api._members", fails_on_the_third_chunk)
    with caplog.at_level(logging.INFO, logger="partners.api"):
        response = api.get(TIERS, HTTP_X_REQUEST_ID="cut-1")
        chunks = iter(response.streaming_content)
        received = next(chunks) + next(chunks)
        with pytest.raises(RuntimeError, match="disk on fire"):
            next(chunks)
    assert response.status_code == 200  # sent before the failure
    with pytest.raises(ValueError):
        json.loads(received)  # a client sees an incomplete body, never a shorter list
    error = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "cut-1" in error.getMessage() and error.exc_info is not None
    [line] = [json.loads(r.message) for r in caplog.records if r.message.startswith("{")]
    assert line["complete"] is False and line["bytes"] == len(received)


def open_cursors() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        return int(cursor.fetchone()[0])


def streaming_a_query() -> bool:
    """Whether PostgreSQL is still sending this connection a query's result."""
    from psycopg import pq

    raw = connection.connection
    return raw.pgconn.transaction_status == pq.TransactionStatus.ACTIVE


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the streamed query is PostgreSQL's")
def test_a_client_leaving_mid_stream_cancels_the_streamed_query(
    viewer, samples, small_chunks, caplog
):
    # The request as a WSGI server hands it to Django, without the test client's wrappers.
    handler = BaseHandler()
    handler.load_middleware()
    token = create_token(viewer)[1]
    request = RequestFactory().get(TIERS, HTTP_AUTHORIZATION=f"Bearer {token}")
    with caplog.at_level(logging.INFO, logger="partners.api"):
        response = handler.get_response(request)
        assert isinstance(response, StreamingHttpResponse)
        assert streaming_a_query()  # the query ran before the status was sent
        content = response.streaming_content
        assert isinstance(content, Iterator)
        next(content)
        # What the server does when the client goes away; the test's connection stays.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
    assert not streaming_a_query()
    assert open_cursors() == 0  # the connection answers the next query; no cursor was left
    [line] = [json.loads(r.message) for r in caplog.records if r.message.startswith("{")]
    assert line["complete"] is False


def test_a_list_read_to_the_end_leaves_no_cursor_open(api, samples, small_chunks):
    body(api.get(TIERS))
    body(api.get(TIERS, {"limit": 12, "offset": 3}))
    api.get(TIERS, {"limit": 3})
    if connection.vendor == "postgresql":
        assert open_cursors() == 0
    with connection.cursor() as cursor:  # the connection is free for the next request
        cursor.execute("SELECT count(*) FROM partners_partnertier")
        assert cursor.fetchone()[0] == PartnerTier.objects.count()


# Real HTTP.


@pytest.mark.django_db(transaction=True)
def test_a_live_server_streams_the_list_chunked_and_pages_it(
    live_server, samples, store, small_chunks, django_user_model
):
    user = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    token = create_token(user)[1]
    headers = {"Authorization": f"Bearer {token}"}
    opened = urllib.request.urlopen(
        urllib.request.Request(f"{live_server.url}{TIERS}", headers=headers), timeout=60
    )
    with opened as response:
        assert response.status == 200
        assert response.headers["Content-Length"] is None  # streamed, not counted first
        assert response.headers["x-request-id"] and response.headers["x-latency-ms"]
        total = int(response.headers["X-Total-Count"])
        records = json.loads(response.read())
    assert records == store_records(store) and total == len(records)

    seen, url = [], f"{live_server.url}{TIERS}?limit=7"
    while url:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            seen += json.loads(response.read())
            found = {rel: u for u, rel in LINK.findall(response.headers["Link"] or "")}
        url = found.get("next", "")
        assert not url or url.startswith(live_server.url)
    assert seen == records


def test_a_page_asked_for_again_and_again_reads_the_same_records(api, input_dir):
    """On PostgreSQL a page's query is prepared after 5 runs on a connection
    (`db.fetch_often`): the records it reads then are the ones it read before."""
    partners(input_dir, 30)
    page = {"oem": "OEM 1", "limit": 3, "offset": 3}
    first = body(api.get(TIERS, page))
    assert len(json.loads(first)) == 3
    for _ in range(7):
        assert body(api.get(TIERS, page)) == first
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [statement for (statement,) in cursor.fetchall()]
        assert any("partners_listcount" in statement for statement in prepared), prepared
