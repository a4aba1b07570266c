"""`SandboxOptions`: one set of settings for `Sandbox` and `ThreadedSandbox`, checked once,
given as ``options=``, as keyword arguments, or both."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from runcomfy_async.sandbox import (
    CdnFaults,
    FaultPlan,
    ModelSpec,
    Sandbox,
    SandboxOptions,
    ThreadedSandbox,
)

from ._support import INSTANT, PROMPT_SCHEMA


def test_keyword_settings_build_the_same_options_as_options() -> None:
    given = SandboxOptions(seed=7, workers=2, failure_rate=0.5, models=[INSTANT])

    by_keywords = Sandbox(seed=7, workers=2, failure_rate=0.5, models=[INSTANT])
    by_options = Sandbox(options=given)

    assert by_keywords.options == by_options.options == given
    assert by_options.seed == 7
    assert INSTANT.model_id in by_options.models


def test_keywords_change_the_options_given() -> None:
    sandbox = Sandbox(SandboxOptions(seed=7, workers=2), workers=3)

    assert (sandbox.options.seed, sandbox.options.workers) == (7, 3)


def test_a_threaded_sandbox_takes_the_same_options() -> None:
    given = SandboxOptions(seed=3, time_scale=0.5, balance_usd=1.0)

    assert ThreadedSandbox(options=given).options == given
    assert ThreadedSandbox(seed=3, time_scale=0.5, balance_usd=1.0).options == given


def test_models_given_as_any_iterable_are_kept_as_a_tuple() -> None:
    assert SandboxOptions(models=iter([INSTANT])).models == (INSTANT,)
    assert SandboxOptions(models=None).models == ()


def test_an_unknown_setting_is_refused_naming_it_and_the_real_ones() -> None:
    with pytest.raises(TypeError, match=r"'workerz'.*settings are .*workers"):
        Sandbox(workerz=2)
    with pytest.raises(TypeError, match="'workerz'"):
        ThreadedSandbox(workerz=2)


def test_options_of_another_type_are_refused() -> None:
    with pytest.raises(TypeError, match="SandboxOptions"):
        Sandbox({"seed": 1}, workers=2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("workers", 0),
        ("workers", 1.5),
        ("workers", True),
        ("time_scale", 0.0),
        ("time_scale", math.inf),
        ("time_scale", math.nan),
        ("retention_s", -1.0),
        ("retention_s", math.nan),
        ("port", -1),
        ("port", 65536),
        ("cdn_port", 70000),
        ("failure_rate", 1.5),
        ("balance_usd", -0.01),
        ("host", ""),
        ("cdn_host", " cdn.example "),
        ("token", ""),
    ],
)
def test_nonsense_settings_are_refused_with_their_name(setting: str, value: Any) -> None:
    with pytest.raises(ValueError, match=setting):
        SandboxOptions(**{setting: value})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("faults", {"submit": 0.1}),
        ("cdn_faults", None),
        ("models", [{"model_id": "acme/x"}]),
        ("cdn_https", "yes"),
        ("seed", "1"),
    ],
)
def test_settings_of_the_wrong_type_are_refused(setting: str, value: Any) -> None:
    with pytest.raises(TypeError):
        SandboxOptions(**{setting: value})


def test_a_retention_for_ever_is_allowed() -> None:
    assert SandboxOptions(retention_s=math.inf).retention_s == math.inf


def test_a_bad_token_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="token") as refused:
        SandboxOptions(token=" secret-token ")

    assert "secret-token" not in str(refused.value)


def test_the_options_repr_leaves_the_token_out() -> None:
    assert "secret-token" not in repr(SandboxOptions(token="secret-token"))


def test_the_default_seed_is_used_for_draws_when_none_is_given() -> None:
    assert SandboxOptions().draw_seed == SandboxOptions(seed=0).draw_seed == 0
    assert SandboxOptions(seed=5).draw_seed == 5


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("failure_rate", 2.0, ValueError),
        ("balance_usd", math.inf, ValueError),
        ("faults", "none", TypeError),
        ("cdn_faults", FaultPlan(), TypeError),
    ],
)
def test_a_setting_changed_later_goes_through_the_same_checks(
    setting: str, value: object, error: type[Exception]
) -> None:
    sandbox = Sandbox()
    before = sandbox.options

    with pytest.raises(error, match=setting):
        setattr(sandbox, setting, value)

    assert sandbox.options == before


def test_a_setting_changed_later_is_in_the_options() -> None:
    sandbox = Sandbox()
    plan = FaultPlan.uniform(rate_limit=0.5)
    cdn = CdnFaults(content_type="text/plain")

    sandbox.faults = plan
    sandbox.cdn_faults = cdn
    sandbox.failure_rate = 0.25
    sandbox.balance_usd = 2.0

    assert sandbox.options == SandboxOptions(
        faults=plan, cdn_faults=cdn, failure_rate=0.25, balance_usd=2.0
    )


def test_the_factory_fixture_takes_options_as_they_are(
    runcomfy_sandbox_factory: Callable[..., ThreadedSandbox],
) -> None:
    slow = ModelSpec("test/slow", PROMPT_SCHEMA, median_s=1.0)
    given = SandboxOptions(seed=9, models=[slow])

    from_options = runcomfy_sandbox_factory(options=given)
    from_keywords = runcomfy_sandbox_factory(seed=9)

    assert from_options.options == given
    assert from_keywords.time_scale < 1.0
    assert from_keywords.seed == 9
