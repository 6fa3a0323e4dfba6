"""The CDK app's stacks: the stateful data (lake, catalog, Athena) and the streaming host (Kafka and services)."""
