-- 03_sleep_analysis: minutes (avg_minutes, the design's name) and mean heart rate per sleep stage (1 asleep, 2 restless, 3 awake), per user and date of each minute: a sleep log across midnight counts on both dates.
SELECT id,
       "date",
       sleep_value,
       count("time") AS avg_minutes,
       round(avg(heartrate), 2) AS avg_heartrate
FROM "fitness-data-kafka-database"."fitness_data_curated"
WHERE sleep_value != 0.0
GROUP BY id, "date", sleep_value
ORDER BY id, "date", sleep_value;
