"""Reports for people (terminal tables) and machines (JSON lives on the result objects)."""
