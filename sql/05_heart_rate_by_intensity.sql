-- 05_heart_rate_by_intensity: heart rate per user and intensity over the minutes that carry a heart rate, with the mean steps per minute.
SELECT id,
       intensity,
       count(heartrate) AS minutes_with_heartrate,
       round(avg(heartrate), 2) AS avg_heartrate,
       min(heartrate) AS min_heartrate,
       max(heartrate) AS max_heartrate,
       sum(steps) / count(heartrate) AS steps_per_minute
FROM "fitness-data-kafka-database"."fitness_data_curated"
WHERE heartrate IS NOT NULL
GROUP BY id, intensity
ORDER BY id, intensity;
