"""The job queue: procrastinate carries job ids to workers; the `jobs` table holds the rest."""
