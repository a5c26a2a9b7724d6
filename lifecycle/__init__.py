"""Event-sourced lead lifecycle engine.

Touchpoints and sales actions go in; every lead is an event-sourced aggregate that turns
them into lifecycle facts; projections and reports read those facts.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
