"""Finished runs to statistics: no plotting, no SQL."""
