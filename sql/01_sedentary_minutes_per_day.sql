-- 01_sedentary_minutes_per_day: one user's average sedentary minutes per day (outside sleep logs, as Fitbit counts them) and mean heart rate while sedentary.
WITH intensity_per_minute AS (
    SELECT id,
           "date",
           count("time") AS total_sedentary_minutes,
           round(avg(heartrate), 2) AS avg_heartrate
    FROM "fitness-data-kafka-database"."fitness_data_curated"
    WHERE id = 1503960366 AND intensity = 0 AND sleep_value = 0.0
    GROUP BY id, "date"
)
SELECT id,
       count("date") AS number_days,
       round(avg(total_sedentary_minutes), 2) AS avg_sedentary_minutes_day,
       round(avg(avg_heartrate), 2) AS avg_heartrate_minute_day
FROM intensity_per_minute
GROUP BY id;
