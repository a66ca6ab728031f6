"""Reading request bodies with memory bounded by what a forecast needs, before any object is built.

Why not let BentoML parse: it hands the whole body to pydantic, which builds every JSON value first and
reports every error after, on the event loop. 127 MiB of `{},` under the byte cap became 44 million objects
(7 GB) and a 12 s stall of the health probes. Here, per route:

- a byte cap: a single request may hold 168 hours (about 80 kB as clients write it), so /predict takes
  1 MiB; a batch 1,000 of those (COMMUTE_MAX_BODY_BYTES, 128 MiB by default); the other APIs 64 KiB;
- a JSON value budget, counted on the raw bytes as they arrive (commas and opening brackets bound the number
  of values from above): what `MAX_BATCH` requests of `MAX_OBSERVATIONS` complete hours can hold. A body
  over it is refused after a few MB, whatever its length;
- a batch is parsed request by request (the envelope by hand, each request with the C decoder) and each
  request validated on its own, stopping at the first bad one: at most one request's raw JSON exists at a
  time, and a thread doing this lets the event loop run between requests (the probes stay fast);
- duplicate keys in any JSON object are refused (json would keep the last one silently);
- while a large body's objects are alive, automatic garbage collection is paused (CollectorPause), and they
  are freed a request at a time (discard): both would otherwise hold the GIL for 0.1-0.3 s at a stretch,
  and the probes with it.

Everything here is HTTP-free; service.py wires it in front of BentoML's parsing.
"""

from __future__ import annotations

import gc
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # public since 2.x, untyped
from typing import Any

from pydantic import BaseModel, ValidationError

from commute_weather.serving.api_models import (
    MAX_BATCH,
    MAX_OBSERVATIONS,
    BatchRequest,
    ForecastRequest,
    Observation,
)

KIB, MIB = 2**10, 2**20
BATCH_BODY_BYTES = 128 * MIB  # /predict_batch by default (COMMUTE_MAX_BODY_BYTES): a full batch is 53-76 MB
SINGLE_BODY_BYTES = 1 * MIB  # one request: 168 hours is ~80 kB as clients write it; 12x for whitespace
SMALL_BODY_BYTES = 64 * KIB  # /forecast, /model: a station id and a window
# Upper bounds on JSON values (commas + opening brackets) of a legal body: an hour is at most one value per
# Observation field plus its brackets and separator; a request adds its own fields and list.
_HOUR_VALUES = len(Observation.model_fields) + 2
REQUEST_VALUES = MAX_OBSERVATIONS * _HOUR_VALUES + 32
BATCH_VALUES = MAX_BATCH * (REQUEST_VALUES + 2) + 32
# /forecast and /model: the byte cap alone bounds them (a value takes at least one byte; 64 KiB of `{},` is
# ~1.5 MB of objects). A value cap below it refused bodies the schema allows: /model takes any object, and
# schemathesis' generated extra properties past 64 values got 413.
SMALL_VALUES = SMALL_BODY_BYTES
# A chunk counts as "big" (worth returning freed memory to the OS afterwards) above this many bytes.
BIG_BODY_BYTES = 8 * MIB


class IntakeError(ValueError):
    """A body refused before or while parsing: the status, the message and the fields it names."""

    def __init__(self, status: int, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []


@dataclass(frozen=True)
class Limits:
    """What one API route accepts: body bytes and JSON values."""

    max_bytes: int
    max_values: int
    batch: bool = False


class ValueCounter:
    """Counts an upper bound on the JSON values of a body chunk by chunk, as it arrives."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.values = 0

    def feed(self, chunk: bytes) -> None:
        self.values += chunk.count(b",") + chunk.count(b"{") + chunk.count(b"[")
        if self.values > self.limits.max_values:
            what = f"{MAX_BATCH:,} requests" if self.limits.batch else "one request"
            raise IntakeError(
                413,
                f"body: more JSON values than {what} of {MAX_OBSERVATIONS} hours can hold "
                f"(over {self.limits.max_values:,}): send fewer requests or hours",
                ["body"],
            )


class DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return mapping


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _path(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_error(errors: Sequence[Mapping[str, Any]], prefix: tuple[Any, ...] = ()) -> IntakeError:
    """pydantic errors as one 400: the first ten messages, every field path."""
    fields = [_path((*prefix, *e["loc"])) for e in errors]
    messages = [f"{_path((*prefix, *e['loc']))}: {e.get('msg', 'invalid')}" for e in errors[:10]]
    more = f"; and {len(errors) - 10} more" if len(errors) > 10 else ""
    return IntakeError(400, "; ".join(messages) + more, fields)


def _not_json(exc: Exception, where: str) -> IntakeError:
    if isinstance(exc, DuplicateKeyError):
        return IntakeError(400, f"{where}: duplicate key {exc.args[0]!r} in a JSON object", [where])
    if isinstance(exc, RecursionError):
        return IntakeError(400, f"{where}: JSON nested too deeply", [where])
    if isinstance(exc, UnicodeDecodeError):
        return IntakeError(400, "body: not UTF-8", ["body"])
    return IntakeError(400, f"{where}: not valid JSON ({exc})", [where])


def parse_single(body: list[bytearray], model: type[BaseModel]) -> BaseModel:
    """A small body (its value budget already checked) into the API's input model. The body comes in a
    one-item list that this empties, so that the bytes are freed once decoded."""
    raw = body.pop()
    try:
        data = _DECODER.decode(raw.decode("utf-8")) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise _not_json(exc, "body") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc.errors(include_context=False, include_input=False)) from None


@dataclass
class _Cursor:
    text: str
    pos: int = 0
    fields: list[str] = field(default_factory=list)

    def skip(self) -> str:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]  # always matches
        return self.text[self.pos : self.pos + 1]

    def expect(self, char: str, where: str) -> None:
        found = self.skip()
        if found != char:
            shown = repr(found) if found else "the end of the body"
            raise IntakeError(
                400, f"{where}: expected {char!r} at character {self.pos}, found {shown}", [where]
            )
        self.pos += 1


def _object(cursor: _Cursor, where: str, members: dict[str, Callable[[_Cursor], None]]) -> None:
    """An object whose only keys are `members`, each required, each read by its own function."""
    if cursor.skip() != "{":
        raise IntakeError(400, f"{where}: Input should be a valid dictionary or object", [where])
    cursor.pos += 1
    seen: set[str] = set()
    if cursor.skip() == "}":
        cursor.pos += 1
    else:
        while True:
            cursor.expect('"', where)
            try:
                key, cursor.pos = scanstring(cursor.text, cursor.pos)
            except ValueError as exc:
                raise _not_json(exc, where) from None
            path = f"{where}.{key}" if where != "body" else key
            if key in seen:
                raise IntakeError(400, f"{path}: duplicate key {key!r} in a JSON object", [path])
            if key not in members:
                raise IntakeError(400, f"{path}: Extra inputs are not permitted", [path])
            seen.add(key)
            cursor.expect(":", path)
            members[key](cursor)
            separator = cursor.skip()
            cursor.pos += 1
            if separator == "}":
                break
            if separator != ",":
                raise IntakeError(
                    400, f"{where}: expected ',' or '}}' at character {cursor.pos - 1}", [where]
                )
    for key in members:
        if key not in seen:
            path = f"{where}.{key}" if where != "body" else key
            raise IntakeError(400, f"{path}: Field required", [path])


def parse_batch(body: list[bytearray], model: type[BaseModel]) -> BaseModel:
    """`{"batch": {"requests": [...]}}` request by request into the input model of /predict_batch. The body
    comes in a one-item list that this empties: the bytes are freed once decoded."""
    try:
        cursor = _Cursor(body.pop().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _not_json(exc, "body") from None
    requests: list[ForecastRequest] = []

    def items(cursor: _Cursor) -> None:
        where = "batch.requests"
        if cursor.skip() != "[":
            raise IntakeError(400, f"{where}: Input should be a valid list", [where])
        cursor.pos += 1
        if cursor.skip() == "]":
            cursor.pos += 1
            return
        while True:
            index = len(requests)
            if index == MAX_BATCH:
                raise IntakeError(
                    400, f"{where}: List should have at most {MAX_BATCH} items after validation", [where]
                )
            cursor.skip()
            try:
                data, cursor.pos = _DECODER.raw_decode(cursor.text, cursor.pos)
            except (ValueError, RecursionError) as exc:
                raise _not_json(exc, f"{where}.{index}") from None
            try:
                requests.append(ForecastRequest.model_validate(data))
            except ValidationError as exc:
                errors = exc.errors(include_context=False, include_input=False)
                raise validation_error(errors, ("batch", "requests", index)) from None
            del data
            separator = cursor.skip()
            cursor.pos += 1
            if separator == "]":
                return
            if separator != ",":
                raise IntakeError(400, f"{where}: expected ',' or ']' at character {cursor.pos - 1}", [where])

    _object(cursor, "body", {"batch": lambda c: _object(c, "batch", {"requests": items})})
    if cursor.skip():
        raise IntakeError(400, f"body: extra data after the JSON value at character {cursor.pos}", ["body"])
    if not requests:
        raise IntakeError(
            400, "batch.requests: List should have at least 1 item after validation", ["batch.requests"]
        )
    return model.model_construct(batch=BatchRequest.model_construct(requests=requests))


class CollectorPause:
    """Python's automatic garbage collection off while a large body's objects are alive. A batch parsed
    into 168,000 validated hours sets off full collections that walk every one of them, each holding the
    GIL for 0.1-0.3 s (measured), so every probe arriving meanwhile waited that long. The objects hold no
    reference cycles: reference counting frees them, the collector has nothing to find there. Holds are
    counted (several large bodies may be in flight); the collector resumes when the last is released, or
    for good once it has been off `max_s` in a row (sustained large traffic: cyclic garbage from the rest
    of the server must not pile up for ever)."""

    def __init__(self, max_s: float) -> None:
        self.max_s = max_s
        self.holders = 0
        self.since = 0.0
        self.lock = threading.Lock()

    def hold(self) -> bool:
        """Pause the collector (True), or not (False) when it has been paused too long already."""
        with self.lock:
            now = time.monotonic()
            if self.holders and now - self.since > self.max_s:
                gc.enable()
                return False
            if not self.holders:
                self.since = now
                gc.disable()
            self.holders += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.holders -= 1
            if not self.holders:
                gc.enable()

    @property
    def held(self) -> bool:
        return self.holders > 0


def discard(box: list[Any], paused: CollectorPause | None) -> None:
    """Drop the parsed input in `box` (emptied), a batch one request at a time: between two requests
    another thread (the event loop) can take the GIL. Then release the collector pause, if one was held."""
    item = box.pop()
    requests = getattr(getattr(item, "batch", None), "requests", None)
    del item
    if isinstance(requests, list):
        while requests:
            requests.pop()
    if paused is not None:
        paused.release()
