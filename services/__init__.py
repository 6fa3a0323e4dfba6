"""The services that run the pipeline: the producer, the consumer, and what they share."""
