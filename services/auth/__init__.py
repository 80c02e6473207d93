"""Sign-in and access rules shared by every service (see docs/security.md).

`principal.py` and `claims.py` are pure; `verifier.py` and `jwks.py` check bearer tokens
against the issuer's keys; `gate.py` is the ASGI middleware in front of each FastAPI app
(body limit, security headers, authentication, rate limit); `access.py` holds the
per-route rules; `issuer.py` is the embedded stack's own small OIDC issuer.
"""
