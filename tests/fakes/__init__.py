"""Fakes of AEGIS's own seams for fast unit tests (never the only test of a behaviour)."""
