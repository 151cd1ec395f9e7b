"""Hostile and broken inputs (data files, model folders, configs, output paths) that must each exit 2 cleanly."""
