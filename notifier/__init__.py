"""Notifier: delivers the Flink job's `alerts` topic to webhooks, Telegram, Discord and Slack.

One alert goes to every channel whose minimum level it reaches; the Kafka offset is
committed only once every channel has confirmed or given up, and a local ledger keyed by
(channel, alert_id) keeps a restart from sending a channel the same alert twice.
"""
