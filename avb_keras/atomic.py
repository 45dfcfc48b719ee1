"""Writes that a crash cannot leave half done: a temporary path beside the target, then a rename.

    with atomic_path("runs/demo/model.keras") as temporary:
        model.save(temporary)            # renamed to model.keras only if this succeeds

The temporary name is hidden and says what it is for, e.g.
`.model.partial-4242-1a2b3c4d.keras` or `.epoch-0002.partial-4242-1a2b3c4d`: it
keeps the target's suffix (Keras insists on `.keras`), is never an integer (so
TF Serving never serves a half-written version folder) and never matches the
names readers look for (`epoch-*`, `model.keras`). A rename within one file system
is atomic, so readers see the old target or the new one, never a mixture. On any
failure (a `KeyboardInterrupt` included) the temporary file or folder is removed
and the target is left as it was; only a killed process leaves one behind, which
`remove_leftovers` clears.
"""

import contextlib
import os
import shutil
import uuid
from pathlib import Path

#: What every temporary name contains; `leftovers` looks for it.
PARTIAL = ".partial-"


def temporary_path(target):
    """A hidden, unique path beside `target`, with the same suffix."""
    target = Path(target)
    return target.with_name(f".{target.stem}{PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"
                            f"{target.suffix}")


@contextlib.contextmanager
def atomic_path(target, overwrite=True):
    """Yields a temporary path beside `target`, renamed to `target` when the block succeeds.

    Works for files and folders alike: the block creates whatever it likes at
    the temporary path. The parent folder is created if needed.

    Args:
      target: the file or folder to write.
      overwrite: replace an existing `target` (a folder is deleted first, so
        that step alone is not atomic); if False, an existing target raises
        `FileExistsError` and is left untouched.

    Raises:
      FileExistsError: `overwrite` is False and `target` exists when the block ends.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target)
    try:
        yield temporary
        _move_into_place(temporary, target, overwrite)
    finally:
        _remove(temporary)


def write_text(path, text):
    """Writes `text` to `path` atomically (flushed to disk before the rename); returns the path."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def leftovers(folder):
    """The temporaries that killed writers left in `folder` (not in its subfolders)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and PARTIAL in p.name)


def remove_leftovers(folder):
    """Deletes `leftovers(folder)`; only safe where no other writer is at work."""
    for leftover in leftovers(folder):
        _remove(leftover)


def _move_into_place(temporary, target, overwrite):
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{target} appeared while it was being written; it was left "
                                  "untouched.")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
    os.replace(temporary, target)


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
