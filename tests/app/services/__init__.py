"""Tests of app/services."""
