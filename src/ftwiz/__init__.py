"""ftwiz: a fine-tuning wizard for large language models."""

__version__ = "0.1.0"
