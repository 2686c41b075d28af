"""NIR-VIS benchmark evaluation (not built yet: see the evaluation issue)."""
