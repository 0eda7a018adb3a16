"""Helpers of the notifier tests: a local HTTP server that answers like the real APIs
(recorded shapes in fixtures/, each with its origin) and records what it was sent."""
