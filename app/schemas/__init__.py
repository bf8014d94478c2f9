"""Pydantic models of what leaves the API (and what the pages render), one module per resource."""
