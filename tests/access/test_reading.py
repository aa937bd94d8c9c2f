"""Reading data within a grant: masked vs full, every channel, logged, streamed, expiry."""

import io
import json
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
import time_machine
from django.utils import timezone

from access.masking import mask_value
from access.services import access_grant_revoke, api_token_create
from catalog.models import Column, Sensitivity
from ledger.models import Event

pytestmark = pytest.mark.django_db
RAW_EMAIL = "person1@example.com"
RAW_PHONE = "+44 20 7946 0001"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def read_events():
    return list(Event.objects.filter(action="data.read").order_by("seq"))


@pytest.fixture
def confidential(make_dataset):
    return make_dataset("patients", Sensitivity.CONFIDENTIAL, rows=50)


def test_masked_preview_hides_every_raw_pii_value(
    client, engineer, confidential, grant_access, settings
):
    grant_access(engineer, confidential, "masked")
    client.force_login(engineer)
    response = client.get(f"/catalog/datasets/{confidential.name}/access/preview/")
    assert response.status_code == 200
    html = response.content.decode()
    assert RAW_EMAIL not in html and RAW_PHONE not in html and "Person 1<" not in html
    assert mask_value(RAW_EMAIL, "hash", key=settings.CHARTER_MASKING_KEY) in html
    assert "************0001" in html  # phone: last 4
    assert "Leeds" in html or "York" in html  # non-PII columns stay readable
    event = read_events()[-1]
    assert event.data["channel"] == "preview" and event.data["level"] == "masked"


def test_full_preview_shows_raw_values_and_is_logged_as_raw_sensitive(
    client, engineer, confidential, grant_access
):
    grant = grant_access(engineer, confidential, "full")
    client.force_login(engineer)
    html = client.get(f"/catalog/datasets/{confidential.name}/access/preview/").content.decode()
    assert RAW_EMAIL in html
    event = read_events()[-1]
    assert event.data["level"] == "full" and event.data["raw_sensitive"] is True
    assert event.data["grant"] == grant.pk
    grant.refresh_from_db()
    assert grant.last_read_at is not None and grant.read_count == 1


def test_masked_csv_download_streams_and_never_contains_raw_pii(
    client, engineer, confidential, grant_access
):
    grant_access(engineer, confidential, "masked")
    client.force_login(engineer)
    response = client.get(f"/catalog/datasets/{confidential.name}/access/download.csv")
    assert response.status_code == 200 and response.streaming
    assert 'filename="patients-masked-' in response["Content-Disposition"]
    assert type(response.headers["X-Charter-Access-Level"]) is str  # WSGI servers insist
    text = body(response).decode()
    lines = text.strip().splitlines()
    assert lines[0] == "id,full_name,email,phone,birth_date,score,city"
    assert len(lines) == 51
    for i in range(1, 51):
        assert f"person{i}@example.com" not in text
        assert f"Person {i}," not in text
    assert ",1951," in text or ",1952," in text  # birth dates reduced to years
    assert read_events()[-1].data["channel"] == "download.csv"


def test_full_parquet_download_is_a_valid_file_with_raw_values(
    client, engineer, confidential, grant_access
):
    grant_access(engineer, confidential, "full")
    client.force_login(engineer)
    response = client.get(f"/catalog/datasets/{confidential.name}/access/download.parquet")
    table = pq.read_table(io.BytesIO(body(response)))
    assert table.num_rows == 50
    assert table.column("email").to_pylist()[0] == RAW_EMAIL


def test_masked_parquet_in_many_row_groups_is_masked(
    client, engineer, confidential, grant_access, monkeypatch
):
    from access import reading

    monkeypatch.setattr(reading, "STREAM_CHUNK_ROWS", 7)  # forces 8 row groups
    grant_access(engineer, confidential, "masked")
    client.force_login(engineer)
    response = client.get(f"/catalog/datasets/{confidential.name}/access/download.parquet")
    parquet = pq.ParquetFile(io.BytesIO(body(response)))
    assert parquet.metadata.num_row_groups == 8
    table = parquet.read()
    assert table.num_rows == 50
    assert RAW_EMAIL not in table.column("email").to_pylist()
    assert table.column("full_name").to_pylist()[0] != "Person 1"


def test_grant_columns_limit_what_is_read(client, engineer, confidential, grant_access):
    grant_access(engineer, confidential, "full", columns=["id", "email"])
    client.force_login(engineer)
    text = body(client.get(f"/catalog/datasets/{confidential.name}/access/download.csv")).decode()
    assert text.splitlines()[0] == "id,email"


def test_column_masking_override_is_applied(client, engineer, confidential, grant_access):
    Column.objects.filter(dataset=confidential, name="email").update(masking="redact")
    grant_access(engineer, confidential, "masked")
    client.force_login(engineer)
    text = body(client.get(f"/catalog/datasets/{confidential.name}/access/download.csv")).decode()
    assert "xxxxxx0@xxxxxxx.xxx" in text


def test_unclassified_source_columns_are_withheld_in_masked_reads(
    client, engineer, confidential, grant_access
):
    Column.objects.filter(dataset=confidential, name="city").delete()
    grant_access(engineer, confidential, "masked")
    client.force_login(engineer)
    text = body(client.get(f"/catalog/datasets/{confidential.name}/access/download.csv")).decode()
    assert "Leeds" not in text and "York" not in text


def test_api_streams_ndjson_with_a_bearer_token(client, engineer, confidential, grant_access):
    grant_access(engineer, confidential, "masked")
    _, raw = api_token_create(user=engineer, name="pipeline")
    response = client.get(
        f"/api/v1/datasets/{confidential.name}/rows/?limit=5",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in body(response).decode().splitlines()]
    assert len(rows) == 5
    assert rows[0]["id"] == 1 and rows[0]["email"] != RAW_EMAIL and len(rows[0]["email"]) == 64
    assert rows[0]["birth_date"] == "1951"
    event = read_events()[-1]
    assert event.data["channel"] == "api.ndjson" and event.data["limit"] == 5
    assert event.actor_username == engineer.username


def test_api_rejects_a_bad_output_format(api_client, engineer, confidential, grant_access):
    grant_access(engineer, confidential)
    api_client.force_authenticate(engineer)
    response = api_client.get(f"/api/v1/datasets/{confidential.name}/rows/?output=xlsx")
    assert response.status_code == 400
    assert "output" in response.json()


def test_public_data_is_readable_by_everyone_with_pii_masked(client, outsider, make_dataset):
    public = make_dataset("open-data", Sensitivity.PUBLIC)
    client.force_login(outsider)
    response = client.get(f"/catalog/datasets/{public.name}/access/preview/")
    assert response.status_code == 200
    assert RAW_EMAIL not in response.content.decode()
    assert read_events()[-1].data["basis"] == "public"


def test_owner_reads_own_data_in_full(client, engineer, make_dataset):
    dataset = make_dataset("mine", Sensitivity.RESTRICTED, owner=engineer)
    client.force_login(engineer)
    assert (
        RAW_EMAIL
        in client.get(f"/catalog/datasets/{dataset.name}/access/preview/").content.decode()
    )


def test_reading_is_refused_the_moment_a_grant_expires_even_before_the_beat_runs(
    client, engineer, confidential, grant_access
):
    grant_access(engineer, confidential, "full", days=1)
    client.force_login(engineer)
    url = f"/catalog/datasets/{confidential.name}/access/preview/"
    assert client.get(url).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        client.force_login(engineer)  # sessions last 12 hours
        assert client.get(url).status_code == 403


def test_revoked_grant_stops_reading(client, engineer, steward, confidential, grant_access):
    grant = grant_access(engineer, confidential, "full")
    access_grant_revoke(grant=grant, actor=steward, reason="incident")
    client.force_login(engineer)
    assert client.get(f"/catalog/datasets/{confidential.name}/access/preview/").status_code == 403


def test_a_missing_source_file_gives_a_clear_error_not_a_crash(
    client, engineer, confidential, grant_access
):
    grant_access(engineer, confidential, "full")
    from pathlib import Path

    Path(confidential.location).unlink()
    client.force_login(engineer)
    response = client.get(f"/catalog/datasets/{confidential.name}/access/download.csv")
    assert response.status_code == 503
    assert b"cannot be read" in response.content
    assert not read_events()  # nothing was read, nothing logged as read
