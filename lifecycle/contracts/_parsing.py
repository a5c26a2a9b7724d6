"""Reading one input: JSON text or a decoded object in, a validated model or
:class:`~lifecycle.errors.InvalidInput` out.

Private module: import these names from :mod:`lifecycle.contracts`. This is the ingest
hot path (every line of every ingest passes :func:`parse_inbound_json`): its globals are
bound here, at import, not looked up through other modules per call.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic import ValidationError

from lifecycle.contracts._checks import _RAW_CONTROL, _RAW_CONTROL_BYTES
from lifecycle.contracts._models import _INBOUND, DEFAULT_LIMITS, Limits, SalesAction, Touchpoint
from lifecycle.errors import InvalidInput


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: ``field.path: what was wrong``, joined by ``"; "``.

    Args:
        error: what pydantic reported while validating an input or a config file.

    Returns:
        The message an :class:`~lifecycle.errors.InvalidInput` or a
        :class:`~lifecycle.errors.ConfigError` carries.
    """
    parts = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"] if p not in ("touchpoint", "sales_action")]
        if item["type"] == "control_character":  # found once per model: name its field
            loc.append(str(item.get("ctx", {}).get("field", "")))
        path = ".".join(loc) or "(input)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def parse_inbound(
    data: Any, *, limits: Limits | None = None, raw: str | bytes | None = None
) -> Touchpoint | SalesAction:
    """Validates one decoded input.

    Args:
        data: the decoded input.
        limits: the contract's bounds (default: :data:`DEFAULT_LIMITS`).
        raw: the JSON text it was decoded from, if any (to tell exact integers).

    Returns:
        The :class:`Touchpoint` or :class:`SalesAction` it is (by ``touchpoint_id`` or
        ``action_id``).

    Raises:
        InvalidInput: with every field path and what was wrong with it. Nothing else:
            whatever goes wrong while validating is this input's fault.
    """
    try:
        clean = raw is not None and (
            _RAW_CONTROL.search(raw) if isinstance(raw, str) else _RAW_CONTROL_BYTES.search(raw)
        ) is None
        return _INBOUND.validate_python(
            data, context={"limits": limits or DEFAULT_LIMITS, "raw": raw, "clean": clean})
    except ValidationError as e:
        raise InvalidInput(format_validation_error(e)) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as e:
        # pydantic reports a validator's ValueError as a ValidationError; this is what
        # escapes it (e.g. the exact re-read of a number), still the input's fault.
        raise InvalidInput(f"invalid input: {e}") from None


def parse_inbound_json(
    text: str | bytes, *, limits: Limits | None = None
) -> Touchpoint | SalesAction:
    """Decodes and validates one JSON input.

    Args:
        text: one JSON object, as text or as UTF-8 bytes (a line of a JSON Lines file).
        limits: the contract's bounds (default: :data:`DEFAULT_LIMITS`).

    Returns:
        The :class:`Touchpoint` or :class:`SalesAction` it is.

    Raises:
        InvalidInput: too large, not JSON, not an object, or not matching the contract.
    """
    limits = limits or DEFAULT_LIMITS
    # A str of n characters has at most 4n UTF-8 bytes: encode only when it may be large.
    if len(text) * (4 if isinstance(text, str) else 1) > limits.max_input_bytes:
        size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        if size > limits.max_input_bytes:
            raise InvalidInput(f"an input may have at most {limits.max_input_bytes} bytes, "
                               f"this one has {size}")
    try:
        # orjson, not json: it refuses what the event store could not encode later
        # (NaN, Infinity, lone surrogates, invalid UTF-8) instead of letting it fail a
        # whole batch.
        data = orjson.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if isinstance(text, bytes):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise InvalidInput(f"not UTF-8 ({bad}); JSON text must be UTF-8") from None
        raise InvalidInput(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"an input must be a JSON object, got {type(data).__name__}")
    _no_duplicate_keys(text)
    return parse_inbound(data, limits=limits, raw=text)


class _DuplicateKey(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return members


def _no_duplicate_keys(text: str | bytes) -> None:
    """Rejects an object that gives one key twice (orjson silently keeps the last value).

    Which value the sender meant is unknown — other parsers keep the first — so such an
    input is ambiguous and is not recorded. A second, pairs-preserving parse of text that
    orjson already accepted costs about 4 µs for a typical input.
    """
    try:
        json.loads(text, object_pairs_hook=_unique_members)
    except _DuplicateKey as e:
        raise InvalidInput(f"the key {str(e)!r} is given more than once in one object; "
                           "send each key once") from None
    except RecursionError:
        # Deeper than Python's parser goes (orjson goes to 1024): too deep for the
        # contract anyway, and parse_inbound says so with the limit.
        return
    except ValueError as e:  # orjson accepted it: should not happen
        raise InvalidInput(f"not JSON: {e}") from None

