"""digest: a sectioned, deduplicated daily news digest delivered by email."""

__version__ = "0.1.0"
