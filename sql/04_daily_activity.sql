-- 04_daily_activity: a daily activity summary per user, comparable to Fitbit's dailyActivity (sedentary minutes leave out minutes inside sleep logs).
SELECT id,
       "date",
       sum(steps) AS total_steps,
       count_if(intensity = 3) AS very_active_minutes,
       count_if(intensity = 2) AS fairly_active_minutes,
       count_if(intensity = 1) AS lightly_active_minutes,
       count_if(intensity = 0 AND logid = 0) AS sedentary_minutes,
       count_if(logid != 0) AS minutes_in_bed,
       round(sum(calories), 2) AS calories,
       round(avg(heartrate), 2) AS avg_heartrate,
       count("time") AS minutes_recorded
FROM "fitness-data-kafka-database"."fitness_data_curated"
GROUP BY id, "date"
ORDER BY id, "date";
