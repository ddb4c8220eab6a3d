"""The grammar of `.agent` files, shipped as package data."""
