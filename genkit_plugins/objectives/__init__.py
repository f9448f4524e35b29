"""Built-in objectives: the training losses."""
