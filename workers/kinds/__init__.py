"""Typed job kinds: one torch-free declaration per kind (params, result, version, handler, page)."""
