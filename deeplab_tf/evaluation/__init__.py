"""Evaluation: streaming confusion matrix, multi-scale + flip inference, reports."""
