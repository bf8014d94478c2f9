"""Tests of the typed job kinds: params, cache keys, results."""
