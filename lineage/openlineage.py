"""Read OpenLineage 2-0-2 events: decode the body (gzip with a size cap) and validate the shape.

Validation is strict about what the spec requires and lenient about the rest: unknown facets and
extra keys are kept verbatim. A malformed event raises `EventError` with a reason a producer can
act on, and nothing is stored.
"""

import gzip
import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

EVENT_TYPES = ("RunEvent", "DatasetEvent", "JobEvent")
EVENT_KINDS = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
DEFAULT_MAX_DECOMPRESSED = 8 * 1024 * 1024


class EventError(ValueError):
    """The body is not a valid OpenLineage event; the message says why."""


@dataclass
class DatasetSpec:
    namespace: str
    name: str
    facets: dict[str, Any] = field(default_factory=dict)
    input_facets: dict[str, Any] = field(default_factory=dict)
    output_facets: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedEvent:
    event_type: str
    event_kind: str
    event_time: datetime
    producer: str
    payload: dict[str, Any]
    dedupe_key: str
    run_id: uuid.UUID | None = None
    job: tuple[str, str] | None = None
    inputs: list[DatasetSpec] = field(default_factory=list)
    outputs: list[DatasetSpec] = field(default_factory=list)
    dataset: DatasetSpec | None = None


def max_decompressed_bytes() -> int:
    return int(getattr(settings, "CHARTER_OPENLINEAGE_MAX_BYTES", DEFAULT_MAX_DECOMPRESSED))


def decode_body(body: bytes, content_encoding: str) -> bytes:
    """Undo `Content-Encoding: gzip`, refusing output past the cap (a zip bomb stops early)."""
    encoding = (content_encoding or "").strip().lower()
    limit = max_decompressed_bytes()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise EventError(f"Event body is larger than {limit} bytes.")
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise EventError(f"Unsupported Content-Encoding {content_encoding!r}; use gzip or none.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise EventError(f"Body is not valid gzip: {exc}.") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise EventError(f"Decompressed event is larger than {limit} bytes.")
    if not inflater.eof:
        raise EventError("Body is truncated gzip.")
    return out


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data)


def _require_str(obj: dict, key: str, where: str, max_length: int = 1000) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EventError(f"{where}.{key} is required and must be a non-empty string.")
    if len(value) > max_length:
        raise EventError(f"{where}.{key} is longer than {max_length} characters.")
    return value


def _facets(obj: dict, key: str, where: str) -> dict[str, Any]:
    value = obj.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"{where}.{key} must be an object.")
    for name, facet in value.items():
        if not isinstance(facet, dict):
            raise EventError(f"{where}.{key}.{name} must be an object.")
    return value


def _dataset(obj: Any, where: str) -> DatasetSpec:
    if not isinstance(obj, dict):
        raise EventError(f"{where} must be an object with namespace and name.")
    return DatasetSpec(
        namespace=_require_str(obj, "namespace", where, 500),
        name=_require_str(obj, "name", where, 1000),
        facets=_facets(obj, "facets", where),
        input_facets=_facets(obj, "inputFacets", where),
        output_facets=_facets(obj, "outputFacets", where),
    )


def _datasets(payload: dict, key: str) -> list[DatasetSpec]:
    value = payload.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise EventError(f"{key} must be a list of datasets.")
    return [_dataset(item, f"{key}[{i}]") for i, item in enumerate(value)]


def _job(payload: dict) -> tuple[str, str]:
    job = payload.get("job")
    if not isinstance(job, dict):
        raise EventError("job is required and must be an object with namespace and name.")
    _facets(job, "facets", "job")
    return _require_str(job, "namespace", "job", 500), _require_str(job, "name", "job", 500)


def event_type_of(schema_url: str) -> str:
    """The event type is the fragment's last segment: `…OpenLineage.json#/$defs/RunEvent`."""
    _, _, fragment = schema_url.partition("#")
    suffix = fragment.rstrip("/").rsplit("/", 1)[-1]
    if suffix not in EVENT_TYPES:
        raise EventError(
            f"schemaURL {schema_url!r} does not end in one of {', '.join(EVENT_TYPES)} "
            "(e.g. https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent)."
        )
    return suffix


def dedupe_key(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_event(raw: bytes) -> ParsedEvent:
    """Validate one OpenLineage event (spec 2-0-2) and return its parts; raise EventError if not."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventError(f"Body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:  # "[[[[…" thousands deep: refuse, don't crash
        raise EventError("Body is nested too deeply to be an OpenLineage event.") from exc
    if not isinstance(payload, dict):
        raise EventError("An event must be a JSON object.")
    return parse_payload(payload, key=dedupe_key(payload))


def parse_payload(payload: dict[str, Any], *, key: str = "") -> ParsedEvent:
    """Validate a decoded event. A stored event is re-read with the key it was stored under,
    so the worker does not serialise and hash it again."""
    event_type = event_type_of(_require_str(payload, "schemaURL", "event"))
    event_time = parse_datetime(_require_str(payload, "eventTime", "event"))
    if event_time is None or event_time.tzinfo is None:
        raise EventError("event.eventTime must be an ISO 8601 date-time with a time zone.")
    producer = _require_str(payload, "producer", "event")
    kind = payload.get("eventType") or ""
    if kind and kind not in EVENT_KINDS:
        raise EventError(f"eventType {kind!r} is not one of {', '.join(EVENT_KINDS)}.")
    if kind and event_type != "RunEvent":
        raise EventError("eventType belongs to RunEvent only.")
    parsed = ParsedEvent(
        event_type=event_type,
        event_kind=kind,
        event_time=event_time,
        producer=producer,
        payload=payload,
        dedupe_key=key,
    )
    if event_type == "DatasetEvent":
        parsed.dataset = _dataset(payload.get("dataset"), "dataset")
        return parsed
    parsed.job = _job(payload)
    parsed.inputs = _datasets(payload, "inputs")
    parsed.outputs = _datasets(payload, "outputs")
    if event_type == "RunEvent":
        run = payload.get("run")
        if not isinstance(run, dict):
            raise EventError("run is required and must be an object with runId.")
        _facets(run, "facets", "run")
        try:
            parsed.run_id = uuid.UUID(_require_str(run, "runId", "run"))
        except ValueError as exc:
            raise EventError("run.runId must be a UUID.") from exc
    return parsed
