"""Configuration files: the built-in ones (scoring, grading, nurture) as package data,
and :func:`read_toml`, the one reader of a configuration file a user names."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lifecycle.errors import ConfigError

__all__ = ["read_toml"]


def read_toml(path: Path, what: str, *, hint: str = "") -> dict[str, Any]:
    """The TOML document of a configuration file.

    Args:
        path: the file.
        what: what the file is, for the message (``"scoring file"``).
        hint: appended to the message when the file does not exist (the setting that
            named it).

    Raises:
        ConfigError: the file is missing, unreadable, or not TOML.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist{hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {path} cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} {path}: not valid TOML: {e}") from None
