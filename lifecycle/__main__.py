"""``python -m lifecycle``: the ``lifecycle`` command, without the installed script."""

from __future__ import annotations

from lifecycle.cli import main

if __name__ == "__main__":
    main()
