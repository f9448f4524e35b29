"""Built-in divergences."""
