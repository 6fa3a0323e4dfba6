"""What every part declares once: the record schema, the names, the metric names, the Kafka users and their rights,
and the reader of the named queries of `sql/`. The services, the local toolkit and the CDK app all use it; it uses
none of them."""
