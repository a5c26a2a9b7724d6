"""Event-sourced aggregates: the Lead, and the key index that finds it."""

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.lead_key import LeadKey

__all__ = ["Lead", "LeadKey"]
