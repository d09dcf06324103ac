"""Live: per-source device threads, latest-frame slots, analysis scheduling."""
