"""Rendering: bounded markdown for the model and structured content for scripts."""
