"""Takes on disk: naming, atomic writes, checksums, sidecars, exports."""
