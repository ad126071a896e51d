"""Small helpers with no home of their own (atomic writes, JSON)."""
