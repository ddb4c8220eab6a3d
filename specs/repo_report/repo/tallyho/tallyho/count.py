"""Counting primitives."""

import os
from collections import Counter


def count_words(text):
    return len(text.split())


def count_lines(text):
    # FIXME: a file without a final newline is counted one line short
    return text.count("\n")


def lines_by_extension(root):
    totals = Counter()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            ext = os.path.splitext(name)[1] or "(none)"
            # TODO: skip binary files instead of decoding them with errors="replace"
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                totals[ext] += count_lines(handle.read())
    return dict(totals)
