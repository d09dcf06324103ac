"""Hardware: simulated set, gphoto2 cameras, OpenCV capture sources (no Qt)."""
