"""Output that stays valid whatever the values: strict JSON, literal terminal text.

- :func:`strict_json`: numbers that are not finite become ``null`` (JSON has no
  ``Infinity`` or ``NaN``; ``json.dumps`` would print them and a strict parser refuse
  the document), times become ISO 8601 strings, text that cannot be UTF-8 (a lone
  surrogate) is replaced; the encoder then refuses anything non-finite left over.
- :func:`literal`: user text for rich, shown as it is: never read as markup (``[/]``,
  ``[red]``), and control characters (an escape sequence, a NUL) and characters that
  reorder or hide text (bidi overrides, zero-width spaces) shown as visible symbols
  instead of reaching the terminal.
- :func:`visible`: the same control characters as visible symbols, for any medium.
- :func:`html_text`: text for HTML, escaped, control characters as symbols.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from rich.text import Text

__all__ = ["html_text", "json_ready", "literal", "strict_json", "visible"]

# C0 controls but tab and newline, DEL, and C1 controls (which terminals also obey); and
# the format characters that reorder or hide text — bidi embeddings, overrides, isolates
# and marks (a U+202E in a name drew the rest of the line right to left), zero-width
# characters, the soft hyphen, line and paragraph separators — shown as <U+XXXX>.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f"
                      "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code > 0x9F:
        return f"<U+{code:04X}>"
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control pictures": NUL → ␀, ESC → ␛
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}"


def _utf8(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def visible(value: Any) -> str:
    """``value`` as text with control characters shown as symbols (``␀``, ``␛``)."""
    return _CONTROL.sub(_picture, _utf8(str(value)))


def literal(value: Any, style: str = "") -> Text:
    """User text for rich, printed literally (no markup, no control characters)."""
    return Text(visible(value), style=style)


def html_text(value: Any) -> str:
    """``value`` as HTML text: escaped (quotes too), control characters as symbols."""
    # visible(): a NUL or an escape character in the data is an HTML parse error, and a
    # lone surrogate cannot be written as UTF-8 at all; both are shown as symbols.
    return html.escape(visible(value), quote=True)


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON data: non-finite numbers as None, times as ISO 8601."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {_utf8(str(k)): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_ready(v) for v in items]
    if isinstance(value, Enum):
        return json_ready(value.value)
    if is_dataclass(value) and not isinstance(value, type):
        return json_ready(asdict(value))
    if isinstance(value, UUID | PurePath):
        return str(value)
    return _utf8(str(value))


def strict_json(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as strict JSON text (RFC 8259: no ``Infinity``, ``NaN``); the encoder
    refuses (``ValueError``) what :func:`json_ready` did not make finite."""
    return json.dumps(json_ready(value), indent=indent, ensure_ascii=False, allow_nan=False)
