"""The JSON Schema of the inbound contract (``lifecycle schema`` prints it).

Private module: import :func:`inbound_json_schema` from :mod:`lifecycle.contracts`.
"""

from __future__ import annotations

from typing import Any

from lifecycle.contracts._checks import _PATTERN, _PATTERN_FREE_TEXT
from lifecycle.contracts._models import _FREE_TEXT, _INBOUND, DEFAULT_LIMITS, Limits


def inbound_json_schema(limits: Limits | None = None) -> dict[str, Any]:
    """The JSON Schema of one inbound object (touchpoint or sales action).

    Args:
        limits: the configured bounds (default: :data:`DEFAULT_LIMITS`); the schema
            states the largest amount and the properties' bounds it allows.

    Returns:
        A JSON Schema (draft 2020-12) as a dict, ready for ``json.dumps``.
    """
    limits = limits or DEFAULT_LIMITS
    schema = _INBOUND.json_schema()
    schema["$defs"]["SalesAction"]["properties"]["amount"]["maximum"] = limits.max_amount
    for kind in ("Touchpoint", "SalesAction"):
        field = schema["$defs"][kind]["properties"]["properties"]
        field["description"] = (
            f"{field.get('description', 'free-form data')}: at most "
            f"{limits.max_property_depth} levels deep and {limits.max_property_keys} keys, "
            f"integers within 64 bits; the whole input at most {limits.max_input_bytes} bytes")
        field["maxProperties"] = limits.max_property_keys
    touch = schema["$defs"]["Touchpoint"]["properties"]
    for name in ("channel", "kind"):
        # The model makes a token of the source's word ("Organic Search"): the schema
        # takes any text, the model rejects what has no letter or digit left.
        touch[name]["pattern"] = _PATTERN
        touch[name]["maxLength"] = 200
    for model in schema["$defs"].values():
        for name, field in model.get("properties", {}).items():
            for option in field.get("anyOf", [field]):
                if option.get("type") == "string" and "pattern" not in option:
                    option["pattern"] = _PATTERN_FREE_TEXT if name in _FREE_TEXT else _PATTERN
    schema["title"] = "Lead lifecycle inbound input"
    schema["$comment"] = (
        "An object with touchpoint_id is a Touchpoint; one with action_id is a SalesAction."
    )
    return schema
