"""One screen per wizard step (DESIGN.md): each edits its part of the Draft and says whether it is complete."""
