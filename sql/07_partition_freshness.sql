-- 07_partition_freshness: records, users and the oldest and newest event per day partition, to check the lake is fresh and complete.
SELECT dt,
       count(*) AS records,
       count(DISTINCT id) AS users,
       min("date" || ' ' || "time") AS oldest_event,
       max("date" || ' ' || "time") AS newest_event
FROM "fitness-data-kafka-database"."fitness_data_kafka_storage"
GROUP BY dt
ORDER BY dt;
