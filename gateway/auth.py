"""Bearer tokens with roles, kept hashed, checked in one middleware.

The tokens file (TOML) names each token, its role and the SHA-256 of the token; the token
itself is never stored. `imaging-gateway token NAME --role reader` makes one:

    [tokens.dashboard]
    role = "reader"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

`reader` may GET; `operator` may also POST, PUT, PATCH and DELETE. Probes and metrics stay
open. With no tokens file the API is open, which the settings allow on a loopback bind only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from aiohttp import web

from gateway.problems import Forbidden, Unauthorized
from gateway.tomlfile import read_toml

# Open without a token: orchestrator probes, Prometheus, and the API's own description.
# The dashboard's page and files are open too: they hold no data, and the page asks for a token
# before it calls the API.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/api/docs", "/"})
OPEN_PREFIXES = ("/dashboard/",)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(StrEnum):
    """What a token may do."""

    READER = "reader"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Token:
    """A named token's grant (the token itself is not kept)."""

    name: str
    role: Role


# The token a request was let in with (set by the auth middleware when tokens are used).
GRANT = web.RequestKey("grant", Token)


class TokensError(Exception):
    """The tokens file is missing or malformed; the message is one line naming what."""


def hash_token(token: str) -> str:
    """The SHA-256 hex digest a tokens file keeps for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def load_tokens(path: Path) -> Mapping[str, Token]:
    """Read the tokens file into digest -> grant.

    Raises:
        TokensError: the file cannot be read, or an entry lacks a role or a digest.
    """
    document = read_toml(path, TokensError, "tokens")
    entries = document.get("tokens")
    if not isinstance(entries, dict) or not entries:
        raise TokensError(f"{path}: no [tokens.NAME] entries")
    table: dict[str, Token] = {}
    for name, entry in entries.items():
        where = f"{path} [tokens.{name}]"
        if not isinstance(entry, dict):
            raise TokensError(f"{where}: expected a table with role and sha256")
        role, digest = entry.get("role"), str(entry.get("sha256", "")).lower()
        if role not in {r.value for r in Role}:
            raise TokensError(f"{where}: role must be reader or operator, got {role!r}")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise TokensError(f"{where}: sha256 must be 64 hex digits")
        table[digest] = Token(name=name, role=Role(role))
    return table


def is_open(path: str) -> bool:
    """Whether a path is served without a token."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def grant_for(tokens: Mapping[str, Token], authorization: str | None) -> Token:
    """The grant of the bearer token in an Authorization header.

    Raises:
        Unauthorized: no bearer token, or one that is not in the table.
    """
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("a bearer token is required")
    digest = hash_token(credentials.strip())
    for known, grant in tokens.items():
        # Compare digests in constant time so timing tells nothing about known tokens.
        if hmac.compare_digest(known, digest):
            return grant
    raise Unauthorized("the bearer token is not known")


def check_role(grant: Token, method: str) -> None:
    """Readers may read; operators may also change.

    Raises:
        Forbidden: a reader asked to change something.
    """
    if method not in READ_METHODS and grant.role is not Role.OPERATOR:
        raise Forbidden(f"token {grant.name!r} has the reader role; {method} needs operator")


def require_operator(grant: Token | None, *, secured: bool, what: str) -> None:
    """Reads for the operator role only (the audit trail): with tokens, a reader is refused.

    Raises:
        Forbidden: tokens guard the API and the request's token is not an operator's.
    """
    if secured and (grant is None or grant.role is not Role.OPERATOR):
        raise Forbidden(f"{what} is for the operator role")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(
    tokens: Mapping[str, Token] | None,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware enforcing `tokens`; with None every request passes (loopback only)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # A path or method nobody serves is answered 404 or 405 (with Allow) as it is: there
        # is nothing a token could open.
        unrouted = request.match_info.http_exception is not None
        guarded = not is_open(request.path) and request.method != "OPTIONS"
        if tokens is not None and guarded and not unrouted:
            grant = grant_for(tokens, request.headers.get("Authorization"))
            check_role(grant, request.method)
            request[GRANT] = grant  # the audit trail names who asked
        return await handler(request)

    return middleware
