"""What tests, benchmarks and backtests use to run the product, not part of it: the Flink
cluster's REST API (cluster), isolated copies of the pipeline on the local stack (sandbox)
and local stand-ins for venue and notifier endpoints (local_servers)."""
