"""Getting comments in: the schema, the Redis stream, and platform pollers."""
