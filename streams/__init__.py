"""Faust stream processors of the distributed mode (depends on lifecycle, never the reverse)."""
