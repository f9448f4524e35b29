"""Built-in conditioners."""
