"""Question sets and message templates: content, not code."""
