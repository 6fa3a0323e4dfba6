-- 06_sleep_efficiency: sleep per user and night, as Fitbit's sleepDay counts it (a log counts toward the date it ends): records, minutes asleep, time in bed and efficiency.
WITH sleep_minutes AS (
    SELECT id,
           logid,
           sleep_value,
           max("date") OVER (PARTITION BY id, logid) AS night
    FROM "fitness-data-kafka-database"."fitness_data_curated"
    WHERE logid != 0
),
nights AS (
    SELECT id,
           night,
           count(DISTINCT logid) AS total_sleep_records,
           count_if(sleep_value = 1.0) AS total_minutes_asleep,
           count(*) AS total_time_in_bed
    FROM sleep_minutes
    GROUP BY id, night
)
SELECT id,
       night AS "date",
       total_sleep_records,
       total_minutes_asleep,
       total_time_in_bed,
       100 * total_minutes_asleep / total_time_in_bed AS efficiency_percent,
       round(CAST(total_minutes_asleep AS DOUBLE) / total_time_in_bed, 3) AS efficiency
FROM nights
ORDER BY id, night;
