"""留痕 — the audit trail: hash-chained entries, signed checkpoints, verification."""
