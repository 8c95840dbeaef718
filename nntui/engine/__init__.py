"""The training core: torch and numpy only, never textual or plotext.

Headless runs, the dashboard, benchmarks and tests all drive it the same way.
"""
