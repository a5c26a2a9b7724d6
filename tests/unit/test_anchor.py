"""The anchor file's root, without a database: any change to what an anchor holds
changes its root, keyed or not, and the key is needed to recompute a keyed root."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.anchor import Anchor, AnchorLine, load, seal
from lifecycle.errors import AnchorInvalid

KEY = "a-key-of-at-least-16-characters"

hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
lines = st.lists(st.tuples(
    st.text("0123456789abcdef", min_size=32, max_size=32),
    st.sampled_from(["lead", "key", "other"]),
    st.integers(min_value=1, max_value=10_000),
    hexes,
    st.none() | st.text("0123456789abcdef", min_size=32, max_size=32),
), min_size=1, max_size=8, unique_by=lambda line: line[0])


def anchor_of(items: list[AnchorLine]) -> Anchor:
    return Anchor(created_at="2026-06-30T00:00:00+00:00", backend="sqlite",
                  max_notification_id=sum(i[2] for i in items),
                  events=sum(i[2] for i in items), lines=tuple(items))


def edits(anchor: Anchor, at: int) -> list[Anchor]:
    """Every kind of change to one line and to the header."""
    oid, kind, version, digest, lead = anchor.lines[at]
    flip = "0" if digest[0] != "0" else "1"
    changed: list[AnchorLine] = [
        (oid, kind, version + 1, digest, lead),
        (oid, kind, version, flip + digest[1:], lead),
        (oid, "other" if kind != "other" else "lead", version, digest, lead),
        (oid, kind, version, digest, None if lead else "f" * 32),
        (("0" if oid[0] != "0" else "1") + oid[1:], kind, version, digest, lead),
    ]
    out = [replace(anchor, lines=(*anchor.lines[:at], line, *anchor.lines[at + 1:]))
           for line in changed]
    if len(anchor.lines) > 1:
        out.append(replace(anchor, lines=anchor.lines[:at] + anchor.lines[at + 1:]))
    out += [replace(anchor, max_notification_id=anchor.max_notification_id + 1),
            replace(anchor, events=anchor.events - 1),
            replace(anchor, created_at="2026-07-01T00:00:00+00:00")]
    return out


@settings(max_examples=60, deadline=None)
@given(items=lines, at=st.integers(min_value=0, max_value=7))
def test_any_change_changes_the_root(items: list[AnchorLine], at: int) -> None:
    anchor = anchor_of(items)
    plain, keyed = seal(anchor, None), seal(anchor, KEY)
    assert plain.root != keyed.root
    assert (plain.algorithm, keyed.algorithm) == ("sha256", "hmac-sha256")
    assert seal(replace(anchor, lines=tuple(reversed(anchor.lines))), None).root == plain.root
    for edited in edits(anchor, at % len(items)):
        assert seal(edited, None).root != plain.root, edited
        assert seal(edited, KEY).root != keyed.root, edited
    # Another key gives another root and another key id.
    other = seal(anchor, KEY + "!")
    assert (other.root, other.key_id) != (keyed.root, keyed.key_id)
    assert other.key_id != keyed.key_id


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
    '{"format": ' + "[" * 50_000 + "]" * 50_000 + "}",
])
def test_an_anchor_nested_beyond_any_anchor_is_invalid_not_a_crash(
    tmp_path: Path, text: str
) -> None:
    # json.loads raised RecursionError, which the CLI reported as a bug (exit 70).
    path = tmp_path / "anchor.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnchorInvalid, match="cannot read the anchor"):
        load(path, None)
