"""Business rules. Services flush but never commit; the request (or command) commits once."""
