"""What the analysis counts as a result: one definition, used by the store, the statistics,
the report and the claims.

A *finished* run is a result: it trained to the end (``done``) or its loss became non-finite
(``diverged``, recorded with its epoch). A ``failed`` run raised and is tried again by the
next sweep; ``pending`` runs were planned and not stored.
"""

from __future__ import annotations

#: statuses of runs that are results (the store skips them on resume; tables count them)
FINISHED = ("done", "diverged")
