"""The version, in one place: the package metadata, the CLI, the footer and /health read it."""

__version__ = "0.2.0"
