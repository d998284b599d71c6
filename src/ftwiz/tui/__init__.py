"""The Textual interface: the live run monitor (`ftwiz attach`). Imported only when a TUI is shown."""
