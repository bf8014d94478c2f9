"""The web process: FastAPI pages and JSON API, settings, and the `maira-sae` command line."""
