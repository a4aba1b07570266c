"""Bearer tokens: the ones the sandbox accepts, the revoked ones, and the auth check.

Every token problem answers 400004 with HTTP 400, as the Model API's error page documents for
a missing, expired or revoked token. A token the sandbox never issued gets the same answer:
the service cannot tell a mistyped token from one that expired, and the page gives no other
code for it. 401001 (from RunComfy's general error pages) is never answered: nothing on the
Model API's own page says when it would be, and a client must treat both alike anyway.
"""

from __future__ import annotations

import secrets
from typing import Final

from ._constants import TOKEN_BYTES
from ._http import token_missing

BEARER: Final = "bearer "


class TokenBook:
    """The tokens a sandbox has issued.

    Args:
        first: the main token (checked by `SandboxOptions`); a random one is made when None.
    """

    def __init__(self, first: str | None = None) -> None:
        self.primary = first if first is not None else self._new()
        self._valid = {self.primary}
        self._revoked: set[str] = set()

    @staticmethod
    def _new() -> str:
        return "sbx-" + secrets.token_urlsafe(TOKEN_BYTES)

    def issue(self) -> str:
        """A new valid token (its jobs are not visible to the other tokens)."""
        token = self._new()
        self._valid.add(token)
        return token

    def revoke(self, token: str) -> None:
        """Make `token` answer 400004 from now on."""
        if token not in self._valid:
            raise KeyError("not a token this sandbox issued")
        self._valid.discard(token)
        self._revoked.add(token)

    def issued(self) -> tuple[str, ...]:
        """Every token issued, valid or revoked (the CDN looks for all of them)."""
        return (*self._valid, *self._revoked)

    def check(self, authorization: str | None) -> str:
        """The token of an ``Authorization`` header, or raise the error RunComfy answers."""
        if authorization is None or authorization[: len(BEARER)].lower() != BEARER:
            raise token_missing()
        token = authorization[len(BEARER) :].strip()
        if not token:
            raise token_missing()
        if token in self._valid:
            return token
        if token in self._revoked:
            raise token_missing("token expired or revoked")
        raise token_missing("token invalid, expired or revoked")
