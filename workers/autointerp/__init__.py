"""Autointerp: explain and score SAE features with any OpenAI-compatible LLM (torch-free)."""
