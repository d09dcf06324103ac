"""Pure measurements on frames: frame in, frozen result out."""
