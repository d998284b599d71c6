"""The run folder: the interface between the worker (writes) and monitors (read)."""
