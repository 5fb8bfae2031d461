"""How long functions tell what they are doing, without printing anything themselves.

The library never writes to the terminal. A long function (:func:`clv_predict.score_file`,
:func:`clv_predict.fit_file`) takes ``progress=`` and reports to it: it *starts* a step (``"reading"``,
``"summarising"``, ``"scoring"``, ...) with its size when known, *advances* it as work is done, and *finishes* it.
The command line passes an object that draws these steps with tqdm on a terminal; a program can pass its own.

``progress`` may be:

* ``None``: nothing is reported;
* a :class:`Progress` (or any object with its three methods);
* a plain callable ``progress(done, total)``, the older form: it is called after each chunk is scored (or
  summarised, when fitting) with the chunks done so far and their total (0 when not known beforehand).
"""

from __future__ import annotations

from collections.abc import Callable


class Progress:
    """What a long function reports to; every method does nothing here (subclass to show or record the steps).

    Examples
    --------
    >>> class Steps(Progress):
    ...     def __init__(self):
    ...         self.seen = []
    ...     def start(self, step, total=None, unit="rows"):
    ...         self.seen.append(step)
    >>> steps = Steps()
    >>> steps.start("reading", 100); steps.advance(100); steps.finish()
    >>> steps.seen
    ['reading']
    """

    def start(self, step: str, total: int | None = None, unit: str = "rows") -> None:
        """A step begins: ``total`` units of work (``None`` when not known)."""

    def advance(self, done: int) -> None:
        """``done`` more units of the current step are done."""

    def finish(self) -> None:
        """The current step is over."""


class _Chunks(Progress):
    """The older ``progress(done, total)`` callable, called after each chunk of the chunk step."""

    def __init__(self, callback: Callable[[int, int], None], chunk_step: str):
        self.callback, self.chunk_step = callback, chunk_step
        self.step, self.done, self.total = None, 0, 0

    def start(self, step, total=None, unit="rows"):
        self.step, self.done, self.total = step, 0, total or 0

    def advance(self, done):
        if self.step == self.chunk_step:
            self.done += done
            self.callback(self.done, self.total)


def as_progress(progress, chunk_step: str = "scoring") -> Progress:
    """``progress`` as a :class:`Progress` (see the module's docstring for what it may be)."""
    if progress is None:
        return Progress()
    if all(hasattr(progress, name) for name in ("start", "advance", "finish")):
        return progress
    if callable(progress):
        return _Chunks(progress, chunk_step)
    raise TypeError(f"'progress' must be a Progress, a callable progress(done, total) or None; got {progress!r}")


class TerminalProgress(Progress):
    """Each step drawn as a tqdm bar on ``stream`` (stderr), only when it is a terminal and not ``quiet``.

    Used by the command line; a bar left open by an error or an interruption is closed by :meth:`finish`.
    """

    def __init__(self, stream=None, *, quiet: bool = False):
        import sys

        self.stream = sys.stderr if stream is None else stream
        self.enabled = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None

    def start(self, step, total=None, unit="rows"):
        self.finish()
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=step, unit=f" {unit}" if unit else "it", unit_scale=unit == "rows",
                            file=self.stream, dynamic_ncols=True, leave=True)

    def advance(self, done):
        if self.bar is not None:
            self.bar.update(done)

    def finish(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def step(self, name: str):
        """A step of unknown length as a ``with`` block: its bar shows the time it has taken."""
        import contextlib

        @contextlib.contextmanager
        def block():
            self.start(name, None, "")
            try:
                yield
            finally:
                self.finish()

        return block()
