"""Tests of the job queue: submit, cancel, real worker processes, the reaper."""
