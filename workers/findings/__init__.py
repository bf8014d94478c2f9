"""Findings in report text: a CheXpert-style labeler, a word diff and a baseline/steered comparison."""
