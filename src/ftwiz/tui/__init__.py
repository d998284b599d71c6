"""The Textual front end: the wizard (`ftwiz`, one screen per step over a Draft) and the live run monitor
(`ftwiz attach`). Imported only when a TUI is shown; it calls the same `ftwiz.commands` as the CLI."""
