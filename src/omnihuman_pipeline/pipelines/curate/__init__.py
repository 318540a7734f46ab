"""The curate pipeline: raw videos → scene clips → scored, explained clip manifest."""
