"""Downloads of pretrained weights: a fast check that the host can be reached at all, so an offline machine gets
its explanation in a second instead of after a minute of retries."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def unreachable_reason(url: str) -> str | None:
    """Why url's host cannot be reached (no network, no DNS), or None if it may be (or a proxy decides)."""
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None  # behind a proxy the host need not resolve here
    if os.environ.get("HF_HUB_OFFLINE") == "1" and "huggingface.co" in url:
        return "HF_HUB_OFFLINE=1 is set"
    host = urlparse(url).hostname
    if not host:
        return None
    try:
        socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except OSError as error:
        return f"cannot resolve {host}: {error.strerror or error}; is this machine offline?"
    return None


def one_line(error: BaseException) -> str:
    """An exception as one short line, for messages that must not end in a traceback."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def first_missing_folder(folder: str) -> str | None:
    """The outermost folder of folder's path that does not exist yet (None if folder exists): what a failed
    download must remove again so that it leaves nothing behind."""
    missing = None
    folder = os.path.abspath(folder)
    while not os.path.exists(folder):
        missing, folder = folder, os.path.dirname(folder)
    return missing
