"""Rejects are never lost: ``lifecycle ingest`` appends to its reject file, in input order,
and keeps lines that are not UTF-8 byte for byte.

Each run is the real command (``python -m lifecycle ingest``) on a SQLite file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.ingest import OversizedLine, RejectWriter, read_lines
from tests.cli.test_cli import REPO, jsonl, run
from tests.support import T0, action_data, counts, hours, hypothesis_budget, touchpoint_data

pytestmark = pytest.mark.integration


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def mixed(tag: str, n: int) -> tuple[str, list[int]]:
    """Lines where schema rejects (found while reading) and domain rejects (found when the
    batch is applied) alternate with accepted ones; returns the text and rejected lines."""
    lines: list[dict[str, Any] | str] = [touchpoint_data(f"{tag}-0", email=f"{tag}@acme.com")]
    rejected = []
    for i in range(1, n + 1):
        if i % 3 == 0:
            lines.append(touchpoint_data(f"{tag}-{i}", email=f"{tag}@acme.com",
                                         at=T0 + hours(i)))
            continue
        lines.append("{not json" if i % 3 == 1 else action_data(
            f"{tag}-{i}", "note", email=f"nobody-{tag}-{i}@acme.com", text="?"))
        rejected.append(i + 1)
    return jsonl(*lines), rejected


def test_a_second_ingest_appends_and_every_run_is_in_input_order(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rejects = tmp_path / "in.jsonl.rejects.jsonl"
    runs = []
    for tag in ("first", "second"):
        text, rejected = mixed(tag, 30)
        source.write_text(text, encoding="utf-8")
        result = run(["ingest", str(source)], cwd=tmp_path,
                     env={"LIFECYCLE_BATCH_SIZE": "7"})  # rejects span batches
        assert result.returncode == 1, result.stderr
        runs.append(rejected)
    written = records(rejects)
    assert len(written) == len(runs[0]) + len(runs[1])
    first, second = written[: len(runs[0])], written[len(runs[0]):]
    assert [r["line"] for r in first] == runs[0]  # in input order, whatever rejected it
    assert [r["line"] for r in second] == runs[1]
    assert {r["code"] for r in written} == {"schema", "unknown_lead"}
    assert len({r["run"] for r in first}) == len({r["run"] for r in second}) == 1
    assert first[0]["run"] < second[0]["run"]
    assert all(r["input_id"] is None or r["input_id"].startswith("first") for r in first)
    assert f"rejected lines appended to {rejects}" in result.stdout


def test_a_reject_file_cut_short_by_a_crash_is_closed_off_before_appending(
    tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.jsonl"
    rejects.write_text('{"run": "cut', encoding="utf-8")
    result = run(["ingest", "-", "--rejects", str(rejects)], cwd=tmp_path,
                 stdin=jsonl("[]", "{}"))
    assert result.returncode == 1, result.stderr
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"run": "cut'
    assert [json.loads(x)["line"] for x in lines[1:]] == [1, 2]


@pytest.mark.parametrize("bad", [b"\xe9", b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"])
def test_a_line_that_is_not_utf8_is_rejected_and_kept_byte_for_byte(
    tmp_path: Path, bad: bytes
) -> None:
    good = json.dumps(touchpoint_data("ok-1", email="ok@acme.com")).encode()
    hostile = json.dumps(touchpoint_data("caf-1", email="cafe@acme.com")).encode().replace(
        b"cafe@", b"caf" + bad + b"@")
    source = tmp_path / "in.jsonl"
    source.write_bytes(good + b"\n" + hostile + b"\r\n" + good.replace(b"ok", b"ok2") + b"\n")
    result = run(["ingest", str(source), "--json"], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert counts(json.loads(result.stdout)) == {"received": 3, "accepted": 2, "duplicate": 0,
                                         "rejected": 1}
    (record,) = records(tmp_path / "in.jsonl.rejects.jsonl")
    assert (record["line"], record["code"], record["invalid_utf8"]) == (2, "schema", True)
    assert record["reason"].startswith("not UTF-8")
    assert base64.b64decode(record["original_b64"]) == hostile
    shown = run(["lead", "show", "caf\ufffd@acme.com"], cwd=tmp_path)
    assert shown.returncode == 2  # no lead keyed by a replacement character


SEPARATORS = ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r", "\n"]


@settings(max_examples=hypothesis_budget(100), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet=st.sampled_from(SEPARATORS) | st.characters(),
                              max_size=20), min_size=1, max_size=5),
       as_bytes=st.booleans())
def test_every_reject_record_is_one_line_whatever_the_text_holds(
    tmp_path: Path, texts: list[str], as_bytes: bool
) -> None:
    # Found by the long fuzz run: a NEL (U+0085) in a rejected line split its record in
    # two for readers that end lines there (Python's splitlines).
    path = tmp_path / f"r-{len(list(tmp_path.iterdir()))}.jsonl"
    with RejectWriter(path) as rejects:
        for number, text in enumerate(texts, start=1):
            original: str | bytes = text.encode("utf-8", "surrogatepass") + b"\xff" \
                if as_bytes else text
            rejects.write(number, "schema", f"reason {text}", original)
    written = records(path)
    assert [r["line"] for r in written] == list(range(1, len(texts) + 1))
    for record, text in zip(written, texts, strict=True):
        assert record["reason"] == f"reason {text}"
        if not as_bytes:
            assert record["original"] == text


class _EndlessLine(io.RawIOBase):
    """``size`` bytes of one line (no line break), then ``tail``: made while read, so the
    test itself holds none of it."""

    def __init__(self, size: int, tail: bytes) -> None:
        self.left, self.tail = size, tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.left > 0:
            n = min(len(view), self.left)
            view[:n] = b"a" * n
            self.left -= n
            return n
        n = min(len(view), len(self.tail))
        view[:n], self.tail = self.tail[:n], self.tail[n:]
        return n


@pytest.mark.parametrize("size", [65_537 + 2, 20_000_000, 60_000_000])
def test_a_line_longer_than_any_input_is_rejected_without_being_held_in_memory(
    size: int
) -> None:
    # A 300 MB line without a line break took 1.3 GB of memory and was copied whole into
    # the reject file; every line is now read at most up to the input limit.
    good = json.dumps(touchpoint_data("after-1")).encode()
    stream = io.BufferedReader(_EndlessLine(size, b'"}\r\n' + good + b"\n"))
    tracemalloc.start()
    try:
        lines = list(read_lines(stream, max_bytes=65_536))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, peak  # the chunks read (1 MiB), not the line
    (first, consumed_1), (second, consumed_2) = [(x[1], x[2]) for x in lines]
    assert isinstance(first, OversizedLine)
    assert (first.size, consumed_1) == (size + 2, size + 4)
    assert first.head == b"a" * len(first.head)
    assert 0 < len(first.head) <= 4096
    assert (second, consumed_2) == (good.decode(), len(good) + 1)


def test_an_oversized_line_is_rejected_with_its_size_and_head_and_the_rest_recorded(
    tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    head = json.dumps(touchpoint_data("huge-1"))[:-1] + ', "properties": {"blob": "'
    with source.open("wb") as out:
        out.write(json.dumps(touchpoint_data("before-1")).encode() + b"\n")
        out.write(head.encode() + "é".encode() * 200_000 + b'"}}\n')
        out.write(json.dumps(touchpoint_data("after-1", at=T0 + hours(1))).encode() + b"\n")
    result = run(["ingest", str(source), "--json"], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert counts(json.loads(result.stdout)) == {"received": 3, "accepted": 2, "duplicate": 0,
                                         "rejected": 1}
    (record,) = records(tmp_path / "in.jsonl.rejects.jsonl")
    size = len(head.encode()) + 400_000 + 3
    assert (record["line"], record["code"], record["size"], record["truncated"]) == (
        2, "schema", size, True)
    assert record["reason"] == (f"an input may have at most 65536 bytes, this line has {size}")
    assert record["original"].startswith(head)
    assert "invalid_utf8" not in record
    assert len(record["original"].encode()) <= 4096


@pytest.mark.parametrize("blank", ["\xa0", "\x1c", "\u2028", "\u3000", "\x0c", "\x85"])
def test_a_line_of_characters_json_does_not_call_blank_is_an_input_not_skipped(
    tmp_path: Path, blank: str
) -> None:
    # Only spaces, tabs and line breaks are blank in JSON; Python's str.strip() also took
    # NBSP, form feeds and separators for blank and dropped such lines uncounted.
    text = jsonl(touchpoint_data("b-1"), blank, " \t ", blank * 3 + " ")
    result = run(["ingest", "-", "--json"], cwd=tmp_path, stdin=text)
    assert counts(json.loads(result.stdout)) == {"received": 3, "accepted": 1, "duplicate": 0,
                                         "rejected": 2}
    assert [r["line"] for r in records(tmp_path / "rejects.jsonl")] == [2, 4]


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink", "stdin"])
def test_a_reject_file_that_is_the_input_itself_is_refused_before_anything_is_read(
    tmp_path: Path, how: str
) -> None:
    # Rejects appended to the file being read were read again, rejected again and
    # appended again: 900 MB in 10 seconds, never ending.
    source = tmp_path / "in.jsonl"
    text = jsonl("{}", "[]", touchpoint_data("self-1"))
    source.write_text(text, encoding="utf-8")
    rejects = {"same": str(source), "relative": "./in.jsonl", "stdin": str(source)}.get(how)
    if how == "symlink":
        (tmp_path / "link.jsonl").symlink_to(source)
        rejects = str(tmp_path / "link.jsonl")
    elif how == "hardlink":
        (tmp_path / "hard.jsonl").hardlink_to(source)
        rejects = str(tmp_path / "hard.jsonl")
    args = ["ingest", "-" if how == "stdin" else str(source), "--rejects", str(rejects)]
    with source.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "lifecycle", *args], cwd=tmp_path, stdin=stdin,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")},
                 "LIFECYCLE_DATABASE_URL": f"sqlite:///{tmp_path / 'lifecycle.db'}",
                 "PYTHONPATH": str(REPO), "LIFECYCLE_BATCH_SIZE": "1"}, capture_output=True,
            text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "is the input itself" in result.stderr
    assert "Traceback" not in result.stderr
    assert source.read_text(encoding="utf-8") == text


def test_a_byte_order_mark_at_the_start_of_any_line_is_not_part_of_the_input(
    tmp_path: Path
) -> None:
    # Files concatenated from Windows exports (`cat a.jsonl b.jsonl`) carry a BOM at the
    # start of each part; only the first line's was dropped, the others were rejected.
    bom = "\ufeff"
    text = "".join(f"{bom}{json.dumps(touchpoint_data(f'bom-{i}', at=T0 + hours(i)))}\r\n"
                   for i in range(4)) + f"{bom}\n{bom}{{}}\n"
    result = run(["ingest", "-", "--json"], cwd=tmp_path, stdin=text)
    assert counts(json.loads(result.stdout)) == {"received": 5, "accepted": 4, "duplicate": 0,
                                         "rejected": 1}
    (record,) = records(tmp_path / "rejects.jsonl")
    assert (record["line"], record["original"]) == (6, "{}")


@pytest.mark.parametrize(("limit", "status"), [
    ("99999999999999999999999", 2), (str(2**63), 2), (str(64 * 2**20 + 1), 2),
    (str(64 * 2**20), 0), ("1024", 0),
])
def test_the_input_limit_is_a_size_a_line_can_be_read_with(
    tmp_path: Path, limit: str, status: int
) -> None:
    # A limit beyond what readline() takes crashed every ingest (OverflowError, exit 70).
    result = run(["ingest", "-", "--json"], cwd=tmp_path, stdin=jsonl(touchpoint_data("l-1")),
                 env={"LIFECYCLE_MAX_INPUT_BYTES": limit})
    assert result.returncode == status, result.stderr
    if status:
        assert result.stderr.startswith(
            "error: invalid configuration: LIFECYCLE_MAX_INPUT_BYTES: ")


def test_a_reject_path_under_a_file_or_a_missing_folder_names_the_real_cause(
    tmp_path: Path
) -> None:
    (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    for rejects, says in ((tmp_path / "plain.txt" / "r.jsonl", "is not a folder"),
                          (tmp_path / "plain.txt" / "a" / "r.jsonl", "is not a folder")):
        result = run(["ingest", "-", "--rejects", str(rejects)], cwd=tmp_path, stdin="{}\n")
        assert result.returncode == 3, result.stderr
        # was "cannot use …/plain.txt: File exists"
        assert result.stderr == f"error: cannot use {tmp_path / 'plain.txt'}: {says}\n"
    result = run(["audit", "anchor", str(tmp_path / "nowhere" / "a.json")], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    # was "cannot use …/nowhere/.a.json.j_2c9s2w": a temporary name the user never gave
    assert result.stderr == f"error: cannot use {tmp_path / 'nowhere'}: no such folder\n"
