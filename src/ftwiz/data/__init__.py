"""Datasets: loading, format detection, chat templates."""
