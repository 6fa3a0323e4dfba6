"""What only the services share: Kafka settings and logs, the metrics endpoint, the stop signal, the Kafka admin."""
