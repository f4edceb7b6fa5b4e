"""The end-to-end demo: synthetic data to an int8 model and a self-contained report.html."""
