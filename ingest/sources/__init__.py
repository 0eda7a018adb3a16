"""Venue source modules, one per venue (ingest/source.py SOURCES lists them)."""
