"""Pure building blocks: activations, the model, metrics (no I/O)."""
