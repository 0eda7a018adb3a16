"""The monitor's shared kernel: what every side (ingest, the Flink job, the notifier, the
report, benchmarks and tests) needs, and nothing that belongs to one side.

- paths: where the project's files are (config/, sql/, state);
- settings: the .env reader, service connections, validated YAML configs;
- pipeline: the job's timing (window, watermark, lookbacks) that producers also obey;
- topics: the Kafka topics and their partitions;
- contract: the message contract of every topic, as one definition;
- kafka: client factories and the one way messages are keyed, stamped and read.

It imports no other package of the project; every other package may import it
(docs/architecture.md).
"""
