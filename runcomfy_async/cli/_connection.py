"""Which service a command talks to: RunComfy (or a base URL given), or a sandbox in-process.

``--sandbox`` starts the library's sandbox in the command's own event loop, with the
models' realistic durations sped up, and points the client at it. Its files come from its
own origin on loopback, which downloads must be told to accept. Its seed is drawn afresh
for every run: request ids derive from the seed, and a resumed batch must not find the
previous run's request ids naming the new sandbox's jobs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
from yarl import URL

from .._constants import BASE_URL_ENV, CLI_SANDBOX_SEED_BITS, TOKEN_ENVS
from ..client._client import AsyncRunComfy, resolve_token
from ..core._errors import ConfigurationError
from ..core._net import is_loopback
from ..policies import RetryPolicy
from ._exit_codes import NO_INPUT, NO_PERMISSION, UNAVAILABLE, USAGE, CommandError

__all__ = ["Connection", "ServiceOptions", "connect"]


@attrs.frozen(kw_only=True)
class ServiceOptions:
    """The options that choose the service and how to reach it.

    Attributes:
        base_url: ``--base-url``; None for the environment or RunComfy's.
        token_file: ``--token-file``; None to read the token from the environment.
        sandbox: ``--sandbox``: serve a sandbox in-process and use it.
        sandbox_time_scale: real seconds per model second in that sandbox.
        retries: attempts per request that fails in a retryable way; None for the default.
        download_origins: exact origins output files may also come from (``--download-origin``).
    """

    base_url: str | None
    token_file: str | None
    sandbox: bool
    sandbox_time_scale: float
    retries: int | None
    download_origins: tuple[str, ...] = ()


@attrs.frozen
class Connection:
    """A client ready to use, and where its output files may be downloaded from.

    Attributes:
        client: the API client.
        download_origins: exact origins, besides RunComfy's CDN hosts, that downloads may
            use (the sandbox's file server).
    """

    client: AsyncRunComfy
    download_origins: tuple[str, ...] = ()


@contextlib.asynccontextmanager
async def connect(options: ServiceOptions) -> AsyncIterator[Connection]:
    """A connection for the command; everything it opened is closed when the block ends.

    Raises:
        CommandError: no token (77), an unreadable token file (66), a refused base URL or
            conflicting options (64), the sandbox cannot run here (69).
    """
    retry = RetryPolicy(max_attempts=options.retries) if options.retries is not None else None
    if options.sandbox:
        if options.base_url is not None or options.token_file is not None:
            raise CommandError(
                "--sandbox serves its own API and token: leave out --base-url and --token-file",
                USAGE,
            )
        # Imported here: the sandbox (aiohttp.web, Pillow) is not needed otherwise.
        from ..sandbox import Sandbox, SandboxDependencyError

        sandbox = Sandbox(
            seed=secrets.randbits(CLI_SANDBOX_SEED_BITS), time_scale=options.sandbox_time_scale
        )
        try:
            await sandbox.start()
        except SandboxDependencyError as exc:
            raise CommandError(str(exc), UNAVAILABLE) from None
        try:
            async with AsyncRunComfy(
                api_token=sandbox.token, base_url=sandbox.base_url, retry=retry
            ) as client:
                yield Connection(client, (sandbox.cdn_base_url, *options.download_origins))
        finally:
            # Shielded: a command stopped by Ctrl-C must still free the sandbox's ports.
            with anyio.CancelScope(shield=True):
                await sandbox.close()
        return
    _refuse_plain_http(options.base_url)
    token = _read_token_file(options.token_file) if options.token_file is not None else None
    try:
        token = resolve_token(token)
    except ConfigurationError:
        raise CommandError(
            f"no API token: set one of {', '.join(TOKEN_ENVS)}, or pass --token-file FILE "
            "(or --sandbox, to try things without an account)",
            NO_PERMISSION,
        ) from None
    try:
        client = AsyncRunComfy(api_token=token, base_url=options.base_url, retry=retry)
    except ConfigurationError as exc:
        raise CommandError(str(exc), USAGE) from None
    async with client:
        yield Connection(client, options.download_origins)


def _refuse_plain_http(base_url: str | None) -> None:
    """Refuse a plain-http base URL to another machine in the command line's own words.

    The library refuses it too, but names the keyword argument that lifts the rule; the
    command line has no such option, on purpose: the token would cross the network in
    clear text.
    """
    given = base_url if base_url is not None else os.environ.get(BASE_URL_ENV, "").strip()
    try:
        url = URL(given) if given else None
    except (TypeError, ValueError):
        return  # the library's own check says what is wrong with it
    if url is None or url.scheme != "http" or is_loopback(url.host):
        return
    where = "--base-url" if base_url is not None else BASE_URL_ENV
    raise CommandError(
        f"{where} {given} is plain http to another machine ({url.host}): the API token would "
        "cross the network unencrypted, so the command line refuses it. Use https://, or "
        "reach the service through loopback (for instance an SSH tunnel to 127.0.0.1).",
        USAGE,
    )


def _read_token_file(path: str) -> str:
    try:
        token = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CommandError(f"cannot read the token file {path}: {reason}", NO_INPUT) from None
    if not token:
        raise CommandError(
            f"the token file {path} is empty (or set one of {', '.join(TOKEN_ENVS)})",
            NO_PERMISSION,
        )
    return token
