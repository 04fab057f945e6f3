"""Module docstrings as terminal help: reST markup removed."""

from __future__ import annotations

import re


def plain_text(doc: str | None) -> str:
    """``doc`` without reST markup: ``code`` and :role:`x` become plain words, "::" a colon."""
    text = doc or ""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"'\1'", text)
    text = re.sub(r"(?m)::$", ":", text)
    return text.strip()
