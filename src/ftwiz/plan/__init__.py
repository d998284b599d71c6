"""Planning: memory, time and the recommendation (pure: no torch)."""
