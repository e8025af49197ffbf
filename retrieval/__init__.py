"""retrieval stage: not built yet (see the README status and the open issue)."""
