"""Screens pushed over the dashboard: help, the reset question."""
