"""Delivery: gated promotion of verified images between environments, recorded in an
append-only, hash-chained ledger (the source of truth for what ran where, and when)."""
