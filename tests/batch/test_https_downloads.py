"""Downloads as the real service serves outputs: HTTPS, under a RunComfy host name, with the
default allow-list (no extra origin), and never with the token."""

from __future__ import annotations

from pathlib import Path

import pytest

import runcomfy_async as rc
from runcomfy_async.sandbox import CdnFaults, Sandbox

from .conftest import FAST, make_client, models, prompts

pytest.importorskip("trustme")


async def test_a_batch_downloads_https_outputs_under_the_default_allow_list(
    tmp_path: Path,
) -> None:
    async with Sandbox(models=models(), workers=8, time_scale=0.01, cdn_https=True) as sb:
        assert sb.cdn_base_url.startswith("https://")
        assert ".runcomfy.net" in sb.cdn_base_url
        async with make_client(sb) as client, client.map(
            FAST, prompts(4), download_to=tmp_path / "out",
            download_resolver=sb.resolver(), download_ssl=sb.cdn_ssl_context(),
        ) as batch:
            outcomes = [o async for o in batch]
        seen = sb.stats.snapshot()
    assert [o.state for o in outcomes] == [rc.InputState.SUCCEEDED] * 4
    assert all(o.error is None and len(o.files) == 1 for o in outcomes)
    assert all((tmp_path / "out" / o.files[0].path).is_file() for o in outcomes)
    assert seen.cdn_requests >= 4
    assert seen.cdn_credentials_seen == ()


async def test_without_the_sandbox_ca_the_download_is_refused_not_trusted(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(models=models(), workers=8, time_scale=0.01, cdn_https=True)
    async with sandbox as sb, make_client(sb) as client, client.map(
        FAST, prompts(1), download_to=tmp_path / "out", download_resolver=sb.resolver(),
    ) as batch:
        [outcome] = [o async for o in batch]
    assert outcome.ok
    assert isinstance(outcome.error, rc.DownloadError)


async def test_a_redirect_off_the_runcomfy_hosts_is_refused_and_carries_no_credential(
    tmp_path: Path,
) -> None:
    # The CDN answers 302 to the same file on https://localhost (its own port, so the
    # redirect would land on a real file): the default allow-list must refuse the hop.
    async with Sandbox(models=models(), workers=8, time_scale=0.01, cdn_https=True) as sb:
        sb.cdn_faults = CdnFaults(redirect_to=f"https://localhost:{sb.cdn_port}")
        async with make_client(sb) as client, client.map(
            FAST, prompts(2), download_to=tmp_path / "out",
            download_resolver=sb.resolver(), download_ssl=sb.cdn_ssl_context(),
        ) as batch:
            outcomes = [o async for o in batch]
        seen = sb.stats.snapshot()
    assert all(o.ok and isinstance(o.error, rc.DownloadError) for o in outcomes)
    assert all("redirect" in str(o.error) and o.files == () for o in outcomes)
    assert seen.faults_by_kind.get("cdn_redirect", 0) >= 2
    assert seen.cdn_requests == seen.faults_by_kind["cdn_redirect"]  # no hop followed
    assert seen.cdn_credentials_seen == ()
