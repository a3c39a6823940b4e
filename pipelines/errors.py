"""The ways groklst reports a problem with the user's input or environment."""

from __future__ import annotations

import errno
import os
import re
import shlex
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from os import PathLike
from pathlib import PurePath

# OSError causes that are the user's environment, not a bug: full disks, read-only or
# forbidden places, paths that cannot exist. They are reported like bad input (exit 2).
ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
    errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.ENOENT, errno.EEXIST,
    errno.EXDEV, errno.EIO,
})


def printable_path(path: str | PathLike[str]) -> str:
    """``path`` as text that can always be printed on one line: undecodable bytes shown as
    U+FFFD, control characters escaped (see :func:`escape_control_characters`)."""
    raw = os.fsencode(path)
    return escape_control_characters(raw.decode("utf-8", errors="replace"))


class TypedPath(str):
    """A path as the user typed it (``./ds/``, which pathlib folds to ``ds``): an error names
    it so, and, as it names a file, like a :class:`PurePath` (``./-r``) when it starts with '-'."""


def unmistakable_path(path: str | PathLike[str]) -> str:
    """``path`` as :func:`printable_path` writes it, and a file path (a :class:`PurePath` or a
    :class:`TypedPath`) whose text starts with '-' as ``./-g.tif``: ``-g.tif: file not found``
    reads like an option. A plain str is left as it is, because errors name options by str
    (``--scales``)."""
    text = printable_path(path)
    return f"./{text}" if isinstance(path, (PurePath, TypedPath)) and text.startswith("-") else text


def shell_word(path: str | PathLike[str]) -> str:
    """``path`` as a command pasted into a shell takes it (a hint's ``gdal_edit.py``, ``groklst
    quicklook``): quoted (``'out $HOME.tif'``), its text kept (a GDAL name such as
    ``NETCDF:a.nc:lst``), and ``./-x.tif`` for a name starting with '-', which would read as an option."""
    return shlex.quote(unmistakable_path(path if isinstance(path, PurePath) else TypedPath(os.fspath(path))))


@contextmanager
def naming_as_typed(*typed: str | None) -> Iterator[None]:
    """Re-raise an :class:`InputError` that names the path opened for one of the names ``typed``
    (``./runs//r/`` opened as ``runs/r``) naming it as typed, so that the message and the --json
    error line name what the user gave; other errors pass unchanged. The error keeps its class
    (an :class:`EmptySceneError` is still reported as empty)."""
    try:
        yield
    except InputError as exc:
        opened = {unmistakable_path(PurePath(name)): name for name in typed if name}
        if exc.path in opened:
            exc.path = unmistakable_path(TypedPath(opened[exc.path]))
            exc.args = (str(exc),)
        raise


def _control_escape(char: str) -> str:
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, and the separators str.splitlines() and some terminals break lines at
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control_characters(text: str) -> str:
    """``text`` with control characters written as escapes (a newline as ``\\n``, ``\\x01``,
    ``\\u2028``): a file name holding one prints on one line, and visibly. Other text,
    backslashes included, is left as typed."""
    return _CONTROL_CHARACTERS.sub(lambda match: _control_escape(match.group()), text)


class InputError(Exception):
    """A problem with a file or option the user gave: reported as one line, exit status 2.

    ``path`` names the offending file (a :class:`PurePath`) or option (a str), ``problem`` says
    what is wrong with it and ``hint`` what to do about it.
    """

    def __init__(self, path: str | PathLike[str] | None, problem: str, hint: str | None = None):
        self.path = None if path is None else unmistakable_path(path)
        self.problem = problem
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tail = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.problem}{tail}"


def special_file_error(path: str | PathLike[str]) -> InputError | None:
    """An :class:`InputError` for an input that exists but is neither a regular file nor a
    folder (a named pipe, a socket, a device), else None.

    Opening a named pipe blocks until something writes to it, inside GDAL or torch where no
    signal stops it, and groklst opens an input more than once (a scan, then its tiles), which
    a stream cannot give. A symlink is judged by what it points to; a missing path or a folder
    is left to the caller's own message.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = _SPECIAL_KINDS.get(stat.S_IFMT(mode), "a special file")
    return InputError(path, f"is {kind}, not a file",
                      "give a regular file; save a stream to a file first (groklst reads an input more "
                      "than once, and waits forever on a pipe nobody writes to), or read a compressed "
                      "file through /vsigzip/")


_SPECIAL_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


LOOP_HINT = "fix or remove the link, or choose another folder"
CHAIN_HINT = "link straight to the file, or choose another folder"


def unreachable_error(path: str | PathLike[str]) -> InputError | None:
    """An :class:`InputError` naming the looping symbolic link when ``path`` runs through one
    (``ln -s loop loop``; ``loop/x.tif``), else None. ``Path.exists()`` is False there, so a
    check for a missing file would say "file not found", and an output's folder looks broken."""
    try:
        os.stat(path)
    except OSError as exc:
        return loop_error(path) if exc.errno == errno.ELOOP else None
    except ValueError:  # a NUL in the name: the caller's own check reports it
        return None
    return None


def loop_error(path: str | PathLike[str]) -> InputError:
    """The refusal of ``path``, which runs through a symbolic link that loops or starts a chain of
    more links than the system follows (ELOOP says both), naming that link."""
    words, hint = _looping_link(PurePath(path))
    return InputError(path, f"cannot be reached: {words}", hint)


def _looping_link(path: PurePath) -> tuple[str, str]:
    """Which symbolic link on ``path``'s way loops, or leads through too many links, in words,
    and what to do about it."""
    absolute = path if path.is_absolute() else PurePath(os.getcwd(), path)  # '..' kept, as the kernel walks it
    for step in (*reversed(absolute.parents), absolute):
        try:
            os.stat(step)
        except OSError as exc:
            if exc.errno == errno.ELOOP and os.path.islink(step):
                if _loops(step):
                    return f"{step} is a symbolic link that loops (to {os.readlink(step)})", LOOP_HINT
                return (f"{step} leads through too many symbolic links (to {os.readlink(step)}, "
                        "none of them looping)", CHAIN_HINT)
    return "a symbolic link on the way loops or leads through too many", LOOP_HINT


def _loops(link: PurePath) -> bool:
    """Whether following ``link`` comes back to a link already followed; False for a chain that
    ends (41 links to a file are too many for Linux, which follows 40, but no loop)."""
    try:
        os.path.realpath(link, strict=True)  # no limit on a chain's length; a repeat raises ELOOP
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def not_found_error(path: str | PathLike[str], problem: str = "file not found",
                    hint: str | None = "check the path") -> InputError:
    """The refusal of a path that is not there: ``problem`` and ``hint``, or the loop's own
    message when a symbolic link on its way loops (:func:`unreachable_error`)."""
    return unreachable_error(path) or InputError(path, problem, hint)


class EmptySceneError(InputError):
    """A scene with no valid pixel to write: reported as status ``empty``, nothing is written."""


class GroklstWarning(UserWarning):
    """A warning for the user (shown on stderr by the CLI, even with --quiet)."""


# What the run in this context (a command, one scene) has warned of already; None outside a run.
_SAID: ContextVar[set[str] | None] = ContextVar("groklst_said", default=None)


@contextmanager
def one_run(said: Iterable[str] = ()) -> Iterator[None]:
    """The scope of a run for :func:`first_time`: a CLI command (``groklst_cli.app``), one scene
    (``pipelines.scenes.run_job``, ``pipelines.downscale.downscale_scene``, also on a dask
    worker's thread). A run starts with what the run around it has said (a command's checks of a
    scene's files before the scene) and ``said`` (what the client said before a scene it sent to
    a dask worker: not said twice), and what it says is its own: each scene of a batch says a
    shared guidance's warning (its --json line holds it), which the CLI shows once."""
    token = _SAID.set({*(_SAID.get() or ()), *said})
    try:
        yield
    finally:
        _SAID.reset(token)


def said_so_far() -> frozenset[str]:
    """What the run in this context has said (:func:`first_time`'s keys), for a run elsewhere
    (a dask worker's scene) to start with (:func:`one_run`)."""
    return frozenset(_SAID.get() or ())


def first_time(key: str) -> bool:
    """Whether the run in this context has not yet said ``key`` (noting that it now has): a run
    opens its LST several times (headers, scan, tiles) yet says a thing of the file once. Outside
    any run, True: Python's warning filter then decides (once per message and place by default)."""
    said = _SAID.get()
    if said is None:
        return True
    if key in said:
        return False
    said.add(key)
    return True


def environment_error(exc: BaseException, path: str | PathLike[str] | None = None) -> InputError | None:
    """An :class:`OSError` caused by the user's environment as a one-line :class:`InputError`.

    ``None`` when ``exc`` is not such an error (then it is a bug and reported as one).
    """
    if isinstance(exc, UnicodeError):
        return InputError(path, "the path is not valid UTF-8", "rename the file or folder")
    if not isinstance(exc, OSError) or exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    where = exc.filename if exc.filename is not None else path
    return InputError(where, exc.strerror or str(exc), environment_hint(exc.errno))


def environment_hint(code: int | None) -> str | None:
    """What to do about an environment ``errno`` (a full disk, a forbidden folder), if known."""
    return _ENVIRONMENT_HINTS.get(code) if code is not None else None


_ENVIRONMENT_HINTS = {
    errno.ENOSPC: "free some space or write to another disk",
    errno.EDQUOT: "free some space or write to another disk",
    errno.EFBIG: "the file system or a ulimit caps the file size",
    errno.EROFS: "write to a writable folder",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
}


class StreamWriteError(InputError):
    """stdout or stderr could not be written (``> /dev/full``, a full disk behind ``> log``):
    reported as that stream's problem, exit status 2, never as a file's (the outputs already
    written are complete, and stay). A broken pipe (EPIPE) is no such error: its reader went away,
    and the run stops quietly."""

    def __init__(self, stream: str, exc: OSError):
        self.stream = stream
        what = "cannot write the results" if stream == "stdout" else "cannot write"
        kept = "; output files already written are complete and kept" if stream == "stdout" else ""
        super().__init__(stream, f"{what}: {exc.strerror or exc}",
                         f"free some space where {stream} goes, or redirect it elsewhere{kept}")

