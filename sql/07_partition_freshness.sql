-- 07_partition_freshness: per day partition, the records, users and oldest and newest event of the curated table, beside the records and newest event of the raw table, to see that the lake is complete and how far the compactor is behind the stream.
WITH curated AS (
    SELECT dt,
           count(*) AS records,
           count(DISTINCT id) AS users,
           min("date" || ' ' || "time") AS oldest_event,
           max("date" || ' ' || "time") AS newest_event
    FROM "fitness-data-kafka-database"."fitness_data_curated"
    GROUP BY dt
),
raw AS (
    SELECT dt,
           count(*) AS records,
           max("date" || ' ' || "time") AS newest_event
    FROM "fitness-data-kafka-database"."fitness_data_kafka_storage"
    GROUP BY dt
)
SELECT coalesce(curated.dt, raw.dt) AS dt,
       curated.records,
       curated.users,
       curated.oldest_event,
       curated.newest_event,
       raw.records AS raw_records,
       raw.newest_event AS raw_newest_event
FROM curated
FULL OUTER JOIN raw ON raw.dt = curated.dt
ORDER BY 1;
