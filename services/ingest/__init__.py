"""The ingest front end: devices and apps send records over HTTP(S); each accepted record is in Kafka before the
request is answered with a 2xx."""
