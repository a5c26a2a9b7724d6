"""Built-in configuration files (scoring, grading, nurture)."""
