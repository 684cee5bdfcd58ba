"""Checks that a file can be written later, done before long work so a finished result is never lost to a typo."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .errors import CLIPstylerError


def _nearest_existing_folder(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder


def check_output_folder(folder: str, what: str) -> None:
    """folder exists as a writable directory, or can be created (its nearest existing parent is writable)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CLIPstylerError(f"{what} {folder!r} is a file, not a folder")
    existing = folder if os.path.isdir(folder) else _nearest_existing_folder(os.path.join(folder, "x"))
    if not os.path.isdir(existing):
        raise CLIPstylerError(f"{what} {folder!r} cannot be created: {existing!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIPstylerError(f"{what} {folder!r}: no permission to write in {existing!r}")


def check_output_file(path: str, extensions: Sequence[str], what: str) -> None:
    """path names a file (not a folder) with one of extensions, in a folder that exists or can be created."""
    if not path or os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise CLIPstylerError(f"{what} {path!r} is a folder: give a file name ending in {' or '.join(extensions)}")
    extension = os.path.splitext(path)[1].lower()
    if extension not in extensions:
        found = f"'{extension}'" if extension else "no extension"
        raise CLIPstylerError(f"{what} {path!r} has {found}: use one of {', '.join(extensions)}")
    check_output_folder(os.path.dirname(os.path.abspath(path)), f"the folder of {what}")
