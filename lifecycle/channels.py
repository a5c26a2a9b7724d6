"""Channel groups: a user's channels gathered into the groups reports compare.

Channels are open (any token), so a CRM's ``organic_search``, ``paid_search`` and ``seo``
arrive as three channels; a marketing team reads them as one origin, "search". The
grouping file (``LIFECYCLE_CHANNEL_GROUPS_FILE``) says so once, and every report run
with ``--by channel_group`` uses it::

    [groups]
    search = ["organic_search", "paid_search", "seo"]
    social = ["Facebook", "LinkedIn Ads"]

Channel names are normalised as the engine normalises channels
(:func:`lifecycle.vocabulary.token`), so ``"LinkedIn Ads"`` groups the channel
``linkedin_ads``. A channel in no group is a group of its own (its name); a channel
named in two groups is an error naming both, since its leads cannot count twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lifecycle.config import read_toml
from lifecycle.errors import ConfigError
from lifecycle.settings import Settings
from lifecycle.vocabulary import token

__all__ = ["ChannelGroups", "channel_groups", "load_channel_groups"]


class ChannelGroups(Mapping[str, str]):
    """Channel → group. Looking up a channel in no group gives the channel itself;
    iterating (and ``in``) covers the grouped channels only."""

    def __init__(self, groups: Mapping[str, str] | None = None) -> None:
        self._groups = dict(groups or {})

    def __getitem__(self, channel: str) -> str:
        return self._groups.get(channel, channel)

    def __contains__(self, channel: object) -> bool:
        return channel in self._groups

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)


def channel_groups(settings: Settings) -> Mapping[str, str]:
    """The channel groups of ``settings.channel_groups_file`` (none without a file:
    every channel is its own group).

    Raises:
        ConfigError: the file is missing, not TOML, or its groups are invalid.
    """
    if settings.channel_groups_file is None:
        return ChannelGroups()
    return load_channel_groups(settings.channel_groups_file)


def load_channel_groups(path: Path) -> ChannelGroups:
    """The ``[groups]`` of a grouping file: each group a list of channel names.

    Raises:
        ConfigError: the file is missing or not TOML; it has no ``[groups]`` table; a
            group is not a list of names; a name or group normalises to nothing; a
            channel is in two groups.
    """
    where = f"channel groups file {path}"
    data = read_toml(path, "channel groups file", hint=" (LIFECYCLE_CHANNEL_GROUPS_FILE)")
    section: Any = data.get("groups")
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: no [groups] table (e.g. search = [\"organic_search\", "
                          "\"paid_search\"])")
    out: dict[str, str] = {}
    for group, channels in section.items():
        name = token(group)
        if not name:
            raise ConfigError(f"{where}: group {group!r} has no letter or digit")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise ConfigError(f"{where}: group {group!r} must be a list of channel names")
        for channel in channels:
            key = token(channel)
            if not key:
                raise ConfigError(f"{where}: channel {channel!r} in group {group!r} has no "
                                  "letter or digit")
            if key in out and out[key] != name:
                raise ConfigError(f"{where}: channel {key!r} is in two groups, {out[key]!r} "
                                  f"and {name!r}; a channel belongs to one group")
            out[key] = name
    return ChannelGroups(out)
