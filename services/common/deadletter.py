"""Dead-letter records: a malformed event is parked with the reason, never dropped silently.

A dead letter carries no content of the record it parks: the record stays where it was
(`dlq_source_topic`, `_partition`, `_offset` say where), and what failed is described by field
paths and error kinds only. Pydantic's messages quote the input, and a malformed record may
hold anything (a CPR number typed into a note, a name in an id), so neither its bytes, nor
the messages, nor a key that looks like a direct identifier go to the dead-letter topic or to
the logs.
"""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import ValidationError

from schemas.identifiers import find_identifiers
from schemas.topics import DEAD_LETTER

TOPIC = DEAD_LETTER.name

# What a field name or an error kind looks like; anything else in a location is input.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_MAX_ERRORS = 20


def _part(part: object) -> str:
    if isinstance(part, int):
        return str(part)
    text = str(part)
    return text if _NAME.match(text) else "?"


def safe_reason(exc: BaseException) -> str:
    """Why a record could not be read, without any of its content."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        described = [
            f"{'.'.join(_part(p) for p in e['loc']) or '(record)'}: {_part(e['type'])}"
            for e in errors[:_MAX_ERRORS]
        ]
        return f"{exc.error_count()} validation error(s): " + "; ".join(described)
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    # Our own messages (UnknownEventError) name event types and versions; an event type the
    # record made up is input, so it is shown only if it looks like one.
    words = [w if _NAME.match(w.strip("'\".,:")) else "?" for w in str(exc).split()]
    return f"{type(exc).__name__}: {' '.join(words)[:300]}"


def safe_key(key: bytes | None) -> bytes | None:
    """The record's key if it is a pseudonymous id, else a digest of it (which still groups
    the dead letters of one aggregate)."""
    if key is None:
        return None
    text = key.decode("utf-8", "replace")
    if _NAME.match(text) and not find_identifiers(text):
        return key
    return b"redacted-" + hashlib.blake2b(key, digest_size=12).hexdigest().encode()


def dead_letter_headers(
    *,
    source_topic: str,
    partition: int,
    offset: int,
    consumer: str,
    reason: str,
    value: bytes | None = None,
) -> list[tuple[str, bytes]]:
    """`reason`: from `safe_reason`. `value`: the parked record's bytes, of which only the
    length and a digest are kept (to tell records apart, not to read them)."""
    headers = [
        ("dlq_reason", reason[:2000].encode()),
        ("dlq_source_topic", source_topic.encode()),
        ("dlq_source_partition", str(partition).encode()),
        ("dlq_source_offset", str(offset).encode()),
        ("dlq_consumer", consumer.encode()),
    ]
    if value is not None:
        headers += [
            ("dlq_value_bytes", str(len(value)).encode()),
            ("dlq_value_sha256", hashlib.sha256(value).hexdigest().encode()),
        ]
    return headers
