"""The one retry policy of the consumer (tenacity): what is transient is retried forever with capped, jittered
exponential backoff; anything else fails at once.

Transient: the storage's and Kafka's passing troubles. That is botocore's connection errors and timeouts, S3's
throttling and server errors (and a 409 of two puts of one key at once), an `OSError` of the folder sink (a full or
unmounted disk), and the Kafka errors of `TRANSIENT_KAFKA_ERRORS`, which librdkafka's clients recover from by
themselves (a broker or coordinator that moved, a timeout, a rebalance, a right taken away that an operator gives
back). Everything else is not: a fatal Kafka error, any other Kafka error (a message too large, a bad
configuration), S3 refusing the request (access denied), and above all a programming error (`TypeError`,
`KeyError`, ...), which crashes at once instead of being retried forever.

The wait between attempts is the caller's: the writer waits in its consumer group, polling with its partitions
paused, so an outage of any length costs no rebalance.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

import tenacity
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from confluent_kafka import KafkaError, KafkaException

from services.consumer.dead_letters import DeadLetterRefused, DeadLettersNotSent

T = TypeVar("T")

#: S3 error codes worth another attempt besides the 5xx ones.
_TRANSIENT_S3_CODES = frozenset(
    {
        "ConditionalRequestConflict",  # 409: another put of the same key in flight
        # 404 of a bucket: an S3-compatible store restarting before its buckets are back. On AWS the bucket is the
        # stack's, so the name is right; the retries' warnings name it, should it ever be wrong.
        "NoSuchBucket",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
    }
)


_E = KafkaError
#: The Kafka errors that pass by themselves: the short list of what is retried (unless librdkafka calls it fatal).
TRANSIENT_KAFKA_ERRORS: frozenset[int] = frozenset(
    {
        # the network and the brokers: down, slow, restarting
        _E._TRANSPORT,
        _E._ALL_BROKERS_DOWN,
        _E._RESOLVE,
        _E._TIMED_OUT,
        _E._MSG_TIMED_OUT,
        _E.REQUEST_TIMED_OUT,
        _E.NETWORK_EXCEPTION,
        _E.KAFKA_STORAGE_ERROR,
        # a leader or a coordinator that moved or is loading
        _E.LEADER_NOT_AVAILABLE,
        _E.NOT_LEADER_FOR_PARTITION,
        _E.NOT_ENOUGH_REPLICAS,
        _E.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        _E.COORDINATOR_NOT_AVAILABLE,
        _E.NOT_COORDINATOR,
        _E.COORDINATOR_LOAD_IN_PROGRESS,
        _E._WAIT_COORD,
        _E.UNKNOWN_TOPIC_OR_PART,  # a topic being created, or its metadata not there yet
        _E._UNKNOWN_PARTITION,
        # a rebalance under way
        _E.REBALANCE_IN_PROGRESS,
        _E.ILLEGAL_GENERATION,
        _E.UNKNOWN_MEMBER_ID,
        _E._ASSIGNMENT_LOST,
        # a right taken away that an operator gives back
        _E.GROUP_AUTHORIZATION_FAILED,
        _E.TOPIC_AUTHORIZATION_FAILED,
    }
)


def _transient_botocore(exc: BaseException) -> bool:
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or error.get("Code") in _TRANSIENT_S3_CODES
    return False


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a passing trouble of the storage or of Kafka, worth another attempt."""
    if isinstance(exc, KafkaException):
        error = exc.args[0] if exc.args else None
        if not isinstance(error, KafkaError):
            return False
        if isinstance(exc, DeadLettersNotSent) and error.fatal():
            return True  # the producer broken by it was already replaced
        return not error.fatal() and error.code() in TRANSIENT_KAFKA_ERRORS
    if isinstance(exc, OSError):
        return True
    return _transient_botocore(exc)


def is_operational(exc: BaseException) -> bool:
    """A storage or Kafka error that is not transient: a setup the operator must fix, worth a one-line error."""
    if isinstance(exc, KafkaException | DeadLetterRefused):
        return True
    return isinstance(exc, BotoCoreError | ClientError)


class Backoff:
    """Exponential from `initial_s`, capped at `max_s`, each wait drawn from its upper half (jitter)."""

    def __init__(self, initial_s: float, max_s: float):
        self.initial_s = initial_s
        self.max_s = max_s

    def __call__(self, state: tenacity.RetryCallState) -> float:
        attempt = state.attempt_number - 1  # waits already made
        return min(self.max_s, self.initial_s * 2 ** min(attempt, 20)) * random.uniform(0.5, 1.0)


def retry(
    action: Callable[[], T],
    backoff: Backoff,
    wait: Callable[[float], None],
    on_retry: Callable[[int, float, BaseException], None],
) -> tuple[T, int]:
    """Run `action` until it succeeds or fails with an error that is not transient (raised as it is). Before each
    wait, `on_retry(attempt, seconds, error)` reports the failure; `wait(seconds)` waits (and may raise to give up).
    Returns the action's result and the number of attempts it took."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        on_retry(state.attempt_number, state.next_action.sleep, state.outcome.exception())

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        wait=backoff,
        stop=tenacity.stop_never,
        sleep=wait,
        before_sleep=before_sleep,
        reraise=True,
    )
    result: Any = retrying(action)
    return result, retrying.statistics["attempt_number"]
