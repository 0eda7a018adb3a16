"""Ingest side of the monitor: clients that normalize market data and produce it to Kafka."""
