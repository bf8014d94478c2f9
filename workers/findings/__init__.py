"""Findings in report text: CheXpert-style labels, a word diff, baseline/steered changes."""
