"""Planning and running sweeps: tasks, workers, signals, executors."""
