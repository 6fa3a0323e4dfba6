-- 00_preview: a preview of the table, all columns and ten rows.
SELECT *
FROM "fitness-data-kafka-database"."fitness_data_curated"
LIMIT 10;
