"""Drafting a regression test from a recorded session: a code generator (api: pytest + httpx, ui: Playwright)."""
