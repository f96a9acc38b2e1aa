"""The one writer: SQLite store, merge, lock, exports."""
