"""The one error type the library raises for bad input: its message names the input and what to change."""


class CLIPstylerError(ValueError):
    """Bad input or an unusable model file; the message says which and what to do."""
