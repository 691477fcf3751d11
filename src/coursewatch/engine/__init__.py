"""The course engine: progress along the unrolled course and the off-course state, per fix."""
