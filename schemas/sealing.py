"""Sealing: the personal fields of an event, encrypted with the citizen's key in the record.

Each payload class names its personal fields (`EventPayload.personal_fields`). Written with a
key ring, those fields leave the payload and travel as one AES-256-GCM blob, the payload's
last member:

    "payload": {"citizen_id": "cit-1", "version": 1, "sealed": {"kid": "cit-1", "data": "…"}}

`kid` names the key (the citizen's id), `data` is base64 of the 12-byte random nonce and the
ciphertext of the fields' JSON members; the event id is the associated data, so a blob
cannot be moved to another event. Ids, types, times, municipality, programme and placement
dates stay clear: routing, tenancy and the anonymous key figures need them.

Reading opens the blob when the key exists. When it does not (the citizen was erased and the
key deleted), the personal fields are absent: optional ones read as their defaults, and an
event whose personal fields are required (a competence card) is read as its `Erased…`
variant (`ErasedPayload`), which no consumer mistakes for the event it was.

The ring is passed explicitly or installed once per process by the composition root
(`install`); nothing here opens a connection.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from schemas.envelope import Event

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
SEALED = "sealed"

# The compact form the writer produces; the reader's fast path looks for exactly this.
_MARK = b',"sealed":{"kid":"'
_DATA = b'","data":"'
_END = b'"}'
_EVENT_ID_AT = b'{"event_id":"'


class KeyRing(Protocol):
    """The per-citizen keys as ciphers: what sealing needs of a key store."""

    def opener(self, key_id: str) -> AESGCM | None:
        """The key to read with; None when there is none (erased, or never made)."""

    def sealer(self, key_id: str) -> AESGCM | None:
        """The key to write with, made when the citizen has none yet; None when the
        citizen is erased (a new key must never be made for them)."""

    def forget(self, key_id: str) -> None:
        """Drop what is cached of the key (an erasure was read)."""


class SealingError(ValueError):
    """A sealed blob that cannot be opened with the key it names (damaged or forged)."""


_installed: KeyRing | None = None


def install(ring: KeyRing | None) -> None:
    """The process's key ring, used by `Event.to_json` and `REGISTRY.decode*` when none is
    given (None: write personal fields in plain text, read sealed ones as erased)."""
    global _installed
    _installed = ring


def installed() -> KeyRing | None:
    return _installed


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


# -- writing --------------------------------------------------------------------------------


def seal(event: Event, ring: KeyRing) -> bytes:
    """The event's JSON with its personal fields sealed under the citizen's key (left out
    when the citizen is erased). An event without personal fields is written as it is."""
    payload = event.payload
    personal = type(payload).personal_fields
    kid = getattr(payload, "citizen_id", None)
    if not personal or not isinstance(kid, str):
        return event.model_dump_json().encode()
    clear = event.model_dump_json(exclude={"payload": set(personal)}).encode()
    aead = ring.sealer(kid)
    if aead is None:
        return clear
    inner = payload.model_dump_json(include=set(personal)).encode()[1:-1]
    nonce = os.urandom(NONCE_BYTES)
    data = base64.b64encode(nonce + aead.encrypt(nonce, inner, str(event.event_id).encode()))
    if not clear.endswith(b"}}"):  # pragma: no cover - the payload is the envelope's last field
        raise AssertionError("the payload must be the envelope's last member")
    return b"".join((clear[:-2], _MARK, kid.encode(), _DATA, data, b'"}}}'))


# -- reading --------------------------------------------------------------------------------


def is_sealed(raw: bytes) -> bool:
    return _MARK in raw


def open_raw(raw: bytes, ring: KeyRing | None) -> tuple[bytes, bool] | None:
    """The record with its sealed members put back in place of the blob, and whether they
    could be (False: the key is gone and the members are left out). None when the record is
    not in the writer's compact form (the caller then reads it as a document)."""
    at = raw.find(_MARK)
    if at < 0:
        return raw, True
    if not raw.startswith(_EVENT_ID_AT):
        return None
    event_id = raw[len(_EVENT_ID_AT) : raw.index(b'"', len(_EVENT_ID_AT))]
    kid_at = at + len(_MARK)
    data_at = raw.find(_DATA, kid_at)
    end = raw.find(_END, data_at + len(_DATA))
    if data_at < 0 or end < 0:
        return None
    kid = raw[kid_at:data_at].decode()
    inner = _open(kid, raw[data_at + len(_DATA) : end], event_id, ring)
    rest = raw[end + len(_END) :]
    if inner is None:
        return raw[:at] + rest, False
    return b"".join((raw[:at], b",", inner, rest)), True


def open_document(doc: dict[str, Any], ring: KeyRing | None) -> bool:
    """Put the sealed members of a parsed record's payload back in place (in `doc`), or
    leave them out when the key is gone (False)."""
    payload = doc.get("payload")
    if not isinstance(payload, dict) or SEALED not in payload:
        return True
    sealed = payload.pop(SEALED)
    if not isinstance(sealed, dict) or not isinstance(sealed.get("kid"), str):
        raise SealingError("sealed: expected an object with kid and data")
    data = sealed.get("data")
    if not isinstance(data, str):
        raise SealingError("sealed: expected an object with kid and data")
    inner = _open(sealed["kid"], data.encode(), str(doc.get("event_id", "")).encode(), ring)
    if inner is None:
        return False
    opened = orjson.loads(b"{" + inner + b"}")
    if not isinstance(opened, dict):  # pragma: no cover - braces make an object
        raise SealingError("sealed: not an object")
    payload.update(opened)
    return True


def _open(kid: str, data: bytes, event_id: bytes, ring: KeyRing | None) -> bytes | None:
    aead = ring.opener(kid) if ring is not None else None
    if aead is None:
        return None
    try:
        blob = base64.b64decode(data, validate=True)
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], event_id)
    except (InvalidTag, binascii.Error, ValueError):
        raise SealingError("sealed: cannot be opened with the key it names") from None


class ErasedMarker:
    """Mixed into the `Erased…` variants: a payload whose personal data is gone for good."""

    erased: ClassVar[bool] = True
