"""Face detection, alignment and the per-dataset face manifest."""
