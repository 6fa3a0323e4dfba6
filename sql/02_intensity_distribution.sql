-- 02_intensity_distribution: minutes, steps, calories and mean heart rate per user, day and active intensity (1 light, 2 fairly active, 3 very active).
SELECT id,
       "date",
       intensity,
       count("time") AS total_minutes,
       sum(steps) AS total_steps,
       round(sum(calories), 2) AS total_calories,
       round(avg(heartrate), 2) AS avg_heartrate
FROM "fitness-data-kafka-database"."fitness_data_curated"
WHERE intensity IN (1, 2, 3)
GROUP BY id, "date", intensity
ORDER BY id, "date", intensity;
