"""The producer: simulated or replayed fitness-device records, streamed into Kafka."""
