# The two set-up commands of the README, plus the usual chores.
.PHONY: demo test lint bench setup

setup:
	scripts/setup.sh

demo: setup
	.venv/bin/maira-sae demo

test:
	scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
