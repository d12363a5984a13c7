"""Canned replies and macros: a reply text with placeholders, plus ticket actions."""
