"""The one way groklst reports a problem with the user's input."""

from __future__ import annotations

from os import PathLike


class InputError(Exception):
    """A problem with a file or option the user gave: reported as one line, exit status 2.

    ``path`` names the offending file (or option), ``problem`` says what is wrong with it and
    ``hint`` what to do about it.
    """

    def __init__(self, path: str | PathLike[str] | None, problem: str, hint: str | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tail = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.problem}{tail}"
