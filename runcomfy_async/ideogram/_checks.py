"""How the typed inputs check their fields, and report every problem in one error.

attrs runs a class's converters one field at a time and stops at the first exception, but
someone fixing a batch of inputs wants every problem at once. So each field's converter here
never raises: it returns the normalised value, or a :class:`Refused` saying what was wrong.
``__attrs_post_init__`` then gathers every ``Refused`` under its field's path
(:func:`field_problems`), adds the class's cross-field problems, and raises one
:class:`~runcomfy_async.InvalidInputError` (:func:`raise_problems`). No object holding a
``Refused`` reaches its caller, so the field annotations hold for every object anyone sees.

A converter's parameter is annotated with what callers should pass, because the attrs mypy
plugin makes that the ``__init__`` signature; anything may arrive at run time, so each one
first widens its argument to ``object``. Converters also take their own output back
unchanged, because ``attrs.evolve`` passes normalised values through them again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance

from runcomfy_async.api._schema_check import MISSING, join_path
from runcomfy_async.core._errors import InputProblem, InvalidInputError
from runcomfy_async.media import abbreviated

from ._limits import SEED_MAX, SEED_MIN

__all__ = [
    "Refused",
    "check_choice",
    "check_choice_any_case",
    "check_extra",
    "check_flag",
    "check_optional_text",
    "check_part",
    "check_prompt",
    "check_seed",
    "field_problems",
    "is_valid",
    "json_object",
    "raise_problems",
    "refuse",
    "under",
    "unknown_keys",
]

_T = TypeVar("_T")


@attrs.frozen
class Refused:
    """What a field's converter could not accept, kept until the class reports it.

    Attributes:
        problems: each problem, its path relative to the field (empty: the field itself).
    """

    problems: tuple[InputProblem, ...]


def refuse(received: object, allowed: str) -> Refused:
    """A refusal of the field's own value.

    Args:
        received: the value given (:data:`~runcomfy_async.api._schema_check.MISSING` when a
            payload lacked a required field).
        allowed: what the field takes, in words.
    """
    if received is MISSING:
        allowed = f"required: {allowed}"
    return Refused((InputProblem("", abbreviated(received), allowed),))


def under(prefix: str, problems: Iterable[InputProblem]) -> list[InputProblem]:
    """``problems`` with their paths moved under ``prefix`` (a field name or ``[index]``)."""
    return [InputProblem(join_path(prefix, p.path), p.received, p.allowed) for p in problems]


def is_valid(value: object) -> bool:
    """True unless a converter refused ``value`` (cross-field checks skip refused fields)."""
    return not isinstance(value, Refused)


def _describe_choices(allowed: Iterable[str]) -> str:
    """``"one of 'TURBO', 'BALANCED', 'QUALITY'"``."""
    return "one of " + ", ".join(repr(choice) for choice in allowed)


def check_choice(value: object, allowed: tuple[_T, ...]) -> _T | Refused | None:
    """``value`` if it is one of ``allowed`` (with its case), None if unset, else refused.

    The value returned is the allowed word itself, so that an equal ``str`` subclass (a
    ``StrEnum`` member) is sent as the plain word.
    """
    if value is None:
        return None
    if isinstance(value, str) and value in allowed:
        return allowed[allowed.index(value)]
    text = _describe_choices(str(choice) for choice in allowed)
    if isinstance(value, str) and value.casefold() in {str(c).casefold() for c in allowed}:
        text += " (with this case)"
    return refuse(value, text)


def check_choice_any_case(value: object, allowed: tuple[_T, ...]) -> _T | Refused | None:
    """The word of ``allowed`` that ``value`` names in any case, None if unset, else refused."""
    if value is None:
        return None
    if isinstance(value, str):
        for choice in allowed:
            if str(choice).casefold() == value.casefold():
                return choice
    return refuse(value, _describe_choices(str(choice) for choice in allowed) + " (any case)")


def check_prompt(value: str) -> str | Refused:
    """A prompt: text with something other than whitespace in it."""
    received: object = value
    if isinstance(received, str) and received.strip():
        return received
    return refuse(received, "a non-empty text (not only whitespace)")


def check_optional_text(value: str | None) -> str | Refused | None:
    """Any text, or None when unset."""
    received: object = value
    if received is None or isinstance(received, str):
        return received
    return refuse(received, "a text")


def check_seed(value: int | None) -> int | Refused | None:
    """A seed: an integer (not a bool) in the range every model takes, or None when unset."""
    received: object = value
    if received is None:
        return None
    if (
        isinstance(received, int)
        and not isinstance(received, bool)
        and SEED_MIN <= received <= SEED_MAX
    ):
        return received
    return refuse(received, f"an integer from {SEED_MIN} to {SEED_MAX}")


def check_flag(value: bool | None) -> bool | Refused | None:
    """True or False (not 1 or 0), or None when unset."""
    received: object = value
    if received is None or isinstance(received, bool):
        return received
    return refuse(received, "true or false")


def check_extra(value: Mapping[str, Any]) -> Mapping[str, Any] | Refused:
    """Extra keys sent as given: a read-only copy with only JSON types in it.

    Tuples become lists, as they would on the wire, so that an input equals the one rebuilt
    from its own payload.
    """
    received: object = value
    if not isinstance(received, Mapping):
        return refuse(received, "a mapping of field names to JSON values")
    problems: list[InputProblem] = []
    copied = _json_copy(received, "", problems)
    if problems:
        return Refused(tuple(problems))
    return MappingProxyType(copied)


def json_object(value: object, *, path: str = "", model_id: str | None = None) -> Mapping[str, Any]:
    """``value`` when it is a JSON object (a mapping), for reading a typed value from it.

    Args:
        value: what was received.
        path: where it was, for the message.
        model_id: the model the input was for; None for the parts of an input.

    Raises:
        InvalidInputError: ``value`` is not a mapping.
    """
    if not isinstance(value, Mapping):
        problem = InputProblem(path, abbreviated(value), "a JSON object")
        raise InvalidInputError([problem], model_id=model_id)
    return value


def check_part(
    value: object,
    part: type[_T],
    from_json: Callable[[Mapping[str, Any]], _T],
    allowed: str,
) -> _T | Refused | None:
    """The converter of a field holding a typed part of an input (a palette, a style).

    Args:
        value: a ``part``, its JSON form (read by ``from_json``), or None when unset.
        part: the class of the part.
        from_json: reads the part from a mapping, raising InvalidInputError with every
            problem.
        allowed: what the field takes, in words, for anything else.
    """
    if value is None or isinstance(value, part):
        return value
    if isinstance(value, Mapping):
        try:
            return from_json(value)
        except InvalidInputError as error:
            return Refused(error.problems)
    return refuse(value, allowed)


def _json_copy(value: Any, path: str, problems: list[InputProblem]) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
    elif isinstance(value, Mapping):
        copied = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(InputProblem(join_path(path, f"[{key!r}]"), key, "a text key"))
                continue
            copied[key] = _json_copy(item, join_path(path, key), problems)
        return copied
    elif isinstance(value, (list, tuple)):
        return [
            _json_copy(item, join_path(path, f"[{i}]"), problems) for i, item in enumerate(value)
        ]
    problems.append(
        InputProblem(
            path,
            abbreviated(value),
            "a JSON value: text, a finite number, true/false, null, a list or a mapping",
        )
    )
    return None


def unknown_keys(value: Mapping[str, Any], known: Iterable[str], owner: str) -> list[InputProblem]:
    """A problem for each key of ``value`` that ``owner`` does not have.

    Args:
        value: a JSON object meant to become an ``owner``.
        known: the keys ``owner`` has.
        owner: what the object describes, for the message (e.g. ``"a colour palette"``).
    """
    names = sorted(known)
    return [
        InputProblem(str(key), abbreviated(value[key]), f"a key of {owner}: {', '.join(names)}")
        for key in value
        if key not in names
    ]


def field_problems(instance: AttrsInstance) -> list[InputProblem]:
    """Every problem the converters of an attrs instance left, under each field's name.

    For a class with an ``extra`` field, an extra key that names one of the class's own
    fields is a problem too: it would silently override that field.
    """
    fields = attrs.fields(type(instance))
    problems: list[InputProblem] = []
    for field in fields:
        value = getattr(instance, field.name)
        if isinstance(value, Refused):
            problems.extend(under(field.name, value.problems))
    extra = getattr(instance, "extra", None)
    if isinstance(extra, Mapping):
        own = {field.name for field in fields} - {"extra"}
        problems.extend(
            InputProblem(
                join_path("extra", key),
                abbreviated(extra[key]),
                f"a key that is not a field of {type(instance).__name__}: pass {key}=... instead",
            )
            for key in extra
            if key in own
        )
    return problems


def raise_problems(problems: Iterable[InputProblem], *, model_id: str | None = None) -> None:
    """Raise one InvalidInputError listing ``problems``, if there are any.

    Args:
        problems: everything found wrong.
        model_id: the model the input was for; None for the parts of an input.
    """
    found = list(problems)
    if found:
        raise InvalidInputError(found, model_id=model_id)
