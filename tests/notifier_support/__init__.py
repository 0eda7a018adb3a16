"""Helpers of the notifier tests: alerts shaped like the contract's (alerts.py). The local
endpoints and their recorded answers are in harness/ (local_servers.py, recorded/notifier/)."""
