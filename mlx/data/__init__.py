"""Data: reading tables, schemas (pandera), validation and the bundled example."""
