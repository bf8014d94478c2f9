"""Everything that runs a model: MAIRA-2 runner, tiny test model, precompute, job queue."""
