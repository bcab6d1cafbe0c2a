"""Utilities shared across hemoclf (private; nothing public here yet)."""
