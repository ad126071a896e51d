"""The Git-native model registry: GTO-format tags, read in one pass; lineage from Git."""
