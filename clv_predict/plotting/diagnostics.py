"""Model diagnostics plots (issue 3)."""

__all__: list[str] = []
