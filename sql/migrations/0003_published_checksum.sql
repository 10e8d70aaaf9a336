-- The checksum of the staged catalog each provider's models rows were last refreshed from. A refresh
-- skips every provider whose staged catalog still has that checksum, so a re-sync with nothing changed
-- joins nothing and writes nothing. Flushes clear it; a restore brings back the backup's value with the
-- backup's rows, which is exactly what those rows were refreshed from.
ALTER TABLE providers ADD COLUMN published_checksum text;
ALTER TABLE backup_providers ADD COLUMN published_checksum text;
