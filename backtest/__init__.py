"""Backtests: the product's pure functions run over recorded or generated history, offline."""
