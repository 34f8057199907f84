"""Turning inputs (text dumps, JSON, RSS/Atom files and URLs) into clean, bounded articles."""
