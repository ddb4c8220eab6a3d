"""tallyho: count things in text files."""

__version__ = "0.3.1"
