"""What the end-to-end tests and ``bench/pipeline.py`` both need around real workers.

- :func:`consistently_keyed`: the inputs of a demo history whose people each publish
  under one partition key (Kafka orders messages within a partition only).
- :func:`assigned`: whether a worker's log shows ``topic`` in its latest assignment.
"""

from __future__ import annotations

import re
from typing import Any

from lifecycle.contracts import parse_inbound
from lifecycle.handling import keys_of

__all__ = ["assigned", "consistently_keyed"]

_ASSIGNED = re.compile(r"Setting newly assigned partitions(.*?)for group", re.DOTALL)


def consistently_keyed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inputs of the people whose every input carries the same partition key.

    A person published under two keys (an anonymous external id first, the email
    later) has inputs in two partitions, which workers may apply in another order than
    published — as any Kafka consumer would (the README says so).
    """
    email_of = {i["external_id"]: i["email"] for i in items
                if i.get("external_id") and i.get("email")}

    def person(i: dict[str, Any]) -> str:
        return str(i.get("email") or email_of.get(i.get("external_id"), i.get("external_id")))

    keys: dict[str, set[str]] = {}
    for i in items:
        keys.setdefault(person(i), set()).add(str(keys_of(parse_inbound(i))[0]))
    split = {p for p, k in keys.items() if len(k) > 1}
    return [i for i in items if person(i) not in split]


def assigned(log_text: str, topic: str) -> bool:
    """Whether the latest partition assignment in a worker's log (loglevel info)
    includes ``topic``: aiokafka logs the set, Faust renders it as a table."""
    found = _ASSIGNED.findall(log_text)
    pattern = rf"(\|\s*|topic='){re.escape(topic)}(\s*\||')"
    return bool(found) and re.search(pattern, found[-1]) is not None
