"""Everything that runs a model: the MAIRA-2 runner, the tiny test model, precompute, the job queue."""
