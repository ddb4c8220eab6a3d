"""Columns as the compiler counts them (characters, from 1) and as LSP counts them (UTF-16 code
units, from 0): a character beyond U+FFFF is one column to the compiler and two to an editor."""

from __future__ import annotations


def to_utf16(line: str, column: int) -> int:
    """The LSP character offset of a 1-based character column of `line`."""
    before = line[:max(0, column - 1)]
    if before.isascii():
        return len(before) + max(0, column - 1 - len(line))
    return len(before.encode("utf-16-le")) // 2 + max(0, column - 1 - len(line))


def from_utf16(line: str, character: int) -> int:
    """The 1-based character column of an LSP character offset into `line` (past the end: one
    past the last character; inside a surrogate pair: the character it belongs to)."""
    if line.isascii():
        return min(character, len(line)) + 1
    units = 0
    for i, char in enumerate(line):
        if units >= character:
            return i + 1
        units += 2 if ord(char) > 0xFFFF else 1
        if units > character:
            return i + 1
    return len(line) + 1
