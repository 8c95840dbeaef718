"""The dashboard: a Textual app that drives the engine and never trains itself.

Imported lazily by the CLI (`nntui` without `--headless`), so headless runs and `--help`
never pay for Textual.
"""
