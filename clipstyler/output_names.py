"""Names for the results of many inputs written to one folder (`apply`, `interpolate`)."""

from __future__ import annotations

import logging
import os

from .errors import CLIPstylerError

log = logging.getLogger(__name__)


def plan_outputs(inputs: list[str], output_dir: str) -> list[str]:
    """One output path per input in output_dir, named after it; never an input's own path, never twice the same.

    Inputs that share a name get _2, _3, ... (logged); an extension that cannot be written becomes .png.
    """
    from .image_io import OUTPUT_EXTENSIONS

    sources = {os.path.realpath(path) for path in inputs}
    planned: list[str] = []
    taken: set[str] = set()
    for path in inputs:
        stem, extension = os.path.splitext(os.path.basename(path))
        extension = extension if extension.lower() in OUTPUT_EXTENSIONS else ".png"
        name, number = stem + extension, 1
        while os.path.realpath(os.path.join(output_dir, name)) in taken:
            number += 1
            name = f"{stem}_{number}{extension}"
        if number > 1:
            log.warning("two results would be named %s: writing the one of %s as %s", stem + extension, path, name)
        target = os.path.join(output_dir, name)
        if os.path.realpath(target) in sources:
            raise CLIPstylerError(
                f"-o {output_dir}: the result for {path} would replace an input image; choose another folder"
            )
        taken.add(os.path.realpath(target))
        planned.append(target)
    return planned
