"""Security headers every response carries, and the stricter rules for personal data."""

from __future__ import annotations

# JSON APIs load nothing and may be framed by no one.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The offline API docs: scripts and styles from this service only (Swagger UI sets inline
# styles; no inline scripts are needed, its initializer is a file of its own).
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)

COMMON: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
API: list[tuple[bytes, bytes]] = [
    *COMMON,
    (b"content-security-policy", API_CSP.encode()),
    # Everything behind sign-in may hold personal data: never kept by a browser or proxy.
    (b"cache-control", b"no-store"),
]
DOCS: list[tuple[bytes, bytes]] = [
    *COMMON,
    (b"content-security-policy", DOCS_CSP.encode()),
    (b"cache-control", b"no-cache"),
]
REPLACED = frozenset({name for name, _ in API} | {b"server"})


def secure(headers: list[tuple[bytes, bytes]], docs: bool) -> list[tuple[bytes, bytes]]:
    """The response's own headers minus any it set for these names, plus ours."""
    kept = [(k, v) for k, v in headers if k.lower() not in REPLACED]
    return kept + (DOCS if docs else API)


def as_dict(docs: bool = False) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (DOCS if docs else API)}
