"""Customer value plots: cohorts, segments (issue 4)."""

__all__: list[str] = []
