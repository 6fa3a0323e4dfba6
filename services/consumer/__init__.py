"""The consumer: lands the Kafka stream in the lake (S3 or a local folder) exactly once, with a dead-letter path."""

from services.consumer.settings import ConsumerSettings
from services.consumer.writer import ConsumerError, LakeWriter, Summary, run

__all__ = ["ConsumerError", "ConsumerSettings", "LakeWriter", "Summary", "run"]
