"""After training: talk to the result (`chat`), merge it into its base (`merge`), share it (`push`)."""
