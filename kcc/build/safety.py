"""Who may write the cache: only us.

A JIT cache is a code-injection path: whoever can write a file in it picks
the code our process will dlopen. So every directory and library we use
must be a real directory/file (not a symlink), owned by our uid, and not
writable by group or others. Anything else is refused, never repaired: we
cannot know whether it was tampered with.
"""
from __future__ import annotations

import os
import pathlib
import stat

from kcc.build.errors import BuildError


def cache_root() -> pathlib.Path:
    """$KCC_CACHE_DIR, else $XDG_CACHE_HOME/kcc, else ~/.cache/kcc (made 0700)."""
    explicit = os.environ.get("KCC_CACHE_DIR")
    if explicit:
        try:
            root = pathlib.Path(explicit).expanduser()
        except RuntimeError as exc:   # "~nosuchuser/..."
            raise BuildError(f"$KCC_CACHE_DIR={explicit!r} cannot be expanded ({exc}); set it to "
                             f"a directory path") from None
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
        root = base / "kcc"
    root = pathlib.Path(os.path.abspath(root))
    if not os.path.lexists(root):
        # mode applies to the leaf; the parents get the usual umask.
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise BuildError(
                f"Cannot create the kcc cache directory {root}: {exc}. "
                "Set $KCC_CACHE_DIR to a directory you can write."
            ) from exc
    check_private(root, "cache directory", is_dir=True)
    return root


def check_private(path: os.PathLike, role: str, *, is_dir: bool) -> os.stat_result:
    """Refuse `path` unless it is ours alone; return its lstat."""
    path = os.fspath(path)
    advice = (
        f"Remove it (`rm -rf {path}`) so kcc can recreate it, or set "
        "$KCC_CACHE_DIR to a private directory."
    )
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise BuildError(f"Cannot inspect the kcc {role} {path}: {exc}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise BuildError(
            f"Refusing to use the kcc {role} {path}: it is a symlink, and "
            f"whoever controls its target controls the code kcc loads. {advice}"
        )
    kind_ok = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
    if not kind_ok:
        kind = "directory" if is_dir else "regular file"
        raise BuildError(f"Refusing to use the kcc {role} {path}: not a {kind}. {advice}")
    return _check_owner_and_mode(st, path, role, advice)


def check_private_fd(fd: int, path: str, role: str) -> None:
    """Same checks on an open file (the lock file, opened with O_NOFOLLOW)."""
    advice = f"Remove it (`rm -f {path}`) or set $KCC_CACHE_DIR to a private directory."
    _check_owner_and_mode(os.fstat(fd), path, role, advice)


def _check_owner_and_mode(st: os.stat_result, path: str, role: str,
                          advice: str) -> os.stat_result:
    if st.st_uid != os.getuid():
        raise BuildError(
            f"Refusing to use the kcc {role} {path}: it is owned by uid "
            f"{st.st_uid}, not by you (uid {os.getuid()}). {advice}"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BuildError(
            f"Refusing to use the kcc {role} {path}: it is writable by group or "
            f"others (mode {stat.S_IMODE(st.st_mode):o}), so another user could "
            f"plant code in it. Run `chmod go-w {path}`, or: {advice}"
        )
    return st
