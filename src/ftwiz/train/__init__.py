"""Training: the worker process and how it is launched. Importing this package imports nothing heavy."""
