"""Training engines: the plain reference and the batched stack (no I/O)."""
