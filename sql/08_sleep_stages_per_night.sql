-- 08_sleep_stages_per_night: minutes and mean heart rate per sleep stage (1 asleep, 2 restless, 3 awake) per user and night, a night being the date its sleep log ends (as Fitbit's sleepDay counts it).
WITH sleep_minutes AS (
    SELECT id,
           "time",
           sleep_value,
           heartrate,
           max("date") OVER (PARTITION BY id, logid) AS night
    FROM "fitness-data-kafka-database"."fitness_data_curated"
    WHERE sleep_value != 0.0
)
SELECT id,
       night AS "date",
       sleep_value,
       count("time") AS minutes,
       round(avg(heartrate), 2) AS avg_heartrate
FROM sleep_minutes
GROUP BY id, night, sleep_value
ORDER BY id, night, sleep_value;
