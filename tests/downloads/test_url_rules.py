"""No credential leaves the downloader, and it fetches only from allowed places."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from runcomfy_async import ConfigurationError
from runcomfy_async.store.downloads import Downloader, DownloadError

from ._cdn import PNG, TOKEN, Cdn, NoNetworkResolver, downloader, listing, sha256

# --- Credentials -----------------------------------------------------------------------------


async def test_no_credential_is_ever_sent(
    cdn: Cdn, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    async with downloader(out, cdn.origin) as d:
        await d.download(1, "a", [cdn.url("/png/a"), cdn.url("/redirect/same")])
        await d.download(2, "b", [cdn.url("/png/b"), cdn.url("/flaky/k/1")])
    assert len(cdn.requests) == 6
    for _, headers in cdn.requests:
        assert "Authorization" not in headers
        assert "Cookie" not in headers  # the server set one on every PNG
        assert not any(TOKEN in value for value in headers.values())


@pytest.mark.parametrize(
    "make_session",
    [
        lambda: aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {TOKEN}"}, cookie_jar=aiohttp.DummyCookieJar()
        ),
        lambda: aiohttp.ClientSession(
            auth=aiohttp.BasicAuth("user", "pw"), cookie_jar=aiohttp.DummyCookieJar()
        ),
        lambda: aiohttp.ClientSession(trust_env=True, cookie_jar=aiohttp.DummyCookieJar()),
        lambda: aiohttp.ClientSession(),
    ],
    ids=["authorization-header", "basic-auth", "netrc", "cookie-jar"],
)
async def test_a_session_that_could_carry_credentials_is_refused(
    make_session: Callable[[], aiohttp.ClientSession], out: Path
) -> None:
    async with make_session() as session:
        with pytest.raises(ConfigurationError):
            Downloader(out, session=session)


# --- Where files may come from ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/a.png",
        "https://evilruncomfy.net/a.png",
        "https://runcomfy.net.evil.example/a.png",
        "https://cdn.runcomfy.net@evil.example/a.png",
        "https://user:pw@cdn.runcomfy.net/a.png",
        "http://cdn.runcomfy.net/a.png",
        "ftp://cdn.runcomfy.net/a.png",
        "file:///etc/passwd",
        "/relative/a.png",
        "https://[::1]:9/a.png",
        "http://127.0.0.1.nip.io/a.png",
    ],
)
async def test_a_url_outside_the_rules_is_refused_before_any_connection(
    url: str,
    out: Path,
    offline_session: aiohttp.ClientSession,
    resolver: NoNetworkResolver,
) -> None:
    async with Downloader(out, session=offline_session, max_attempts=1) as d:
        with pytest.raises(DownloadError, match="refused"):
            await d.download(1, "a fox", [url])
    assert resolver.asked == []
    assert listing(out) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://runcomfy.net/a.png",
        "https://playgrounds-storage-public.runcomfy.net/a.png",
        "https://CDN.RunComfy.com./a.png",
    ],
)
async def test_hosts_under_an_allowed_suffix_are_fetched(
    url: str, out: Path, offline_session: aiohttp.ClientSession, resolver: NoNetworkResolver
) -> None:
    async with Downloader(out, session=offline_session, max_attempts=1) as d:
        with pytest.raises(DownloadError, match="gave up after 1 attempts"):
            await d.download(1, "a fox", [url])
    assert len(resolver.asked) == 1


async def test_one_refused_url_stops_the_call_before_any_request(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match="refused"):
            await d.download(1, "a fox", [cdn.url("/png/a"), "https://evil.example/b.png"])
    assert cdn.requests == []


async def test_a_same_origin_redirect_is_followed(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/redirect/same")])
    assert cdn.paths() == ["/redirect/same", "/png/a"]
    assert (stored.url, stored.sha256) == (cdn.url("/redirect/same"), sha256(PNG))


async def test_a_redirect_to_an_allowed_origin_is_followed(
    cdn: Cdn, other_cdn: Cdn, out: Path
) -> None:
    target = other_cdn.url("/png/b")
    async with downloader(out, cdn.origin, other_cdn.origin) as d:
        await d.download(1, "a fox", [cdn.url(f"/redirect/to?location={target}")])
    assert other_cdn.paths() == ["/png/b"]


async def test_a_redirect_to_an_origin_not_allowed_is_refused(
    cdn: Cdn, other_cdn: Cdn, out: Path
) -> None:
    target = other_cdn.url("/png/b?signature=SECRET")
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match=r"redirect to .*/png/b refused") as caught:
            await d.download(1, "a fox", [f"{cdn.url('/redirect/to')}?location={target}"])
    assert other_cdn.requests == []
    assert "SECRET" not in str(caught.value)


async def test_a_redirect_to_https_on_an_origin_not_allowed_is_refused(cdn: Cdn, out: Path) -> None:
    target = cdn.origin.replace("http://", "https://") + "/png/a"
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match="refused"):
            await d.download(1, "a fox", [cdn.url(f"/redirect/to?location={target}")])
    assert cdn.paths() == [f"/redirect/to?location={target}"]


async def test_a_redirect_to_plain_http_off_loopback_is_refused(
    cdn: Cdn, out: Path, offline_session: aiohttp.ClientSession, resolver: NoNetworkResolver
) -> None:
    target = "http://cdn.runcomfy.net/a.png"
    async with Downloader(
        out, allowed_origins=[cdn.origin], session=offline_session, max_attempts=1
    ) as d:
        with pytest.raises(DownloadError, match="plain http"):
            await d.download(1, "a fox", [cdn.url(f"/redirect/to?location={target}")])
    assert resolver.asked == []


async def test_five_redirects_are_followed(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        await d.download(1, "a fox", [cdn.url("/redirect/chain/5")])
    assert len(cdn.requests) == 6


async def test_a_sixth_redirect_is_refused(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match="more than 5 redirects"):
            await d.download(1, "a fox", [cdn.url("/redirect/chain/6")])
    assert len(cdn.requests) == 6

