-- Settings every modelsync session needs whatever the role or the database set (db/statements.py connect).

-- name: readable_formats
-- psycopg reads timestamptz only in DateStyle ISO and interval only in IntervalStyle postgres. 'ISO' alone keeps
-- the input order (DMY or MDY) the role or database chose: modelsync sends dates year first, which reads the same.
SELECT set_config('DateStyle', 'ISO', false), set_config('IntervalStyle', 'postgres', false);
