"""基础库 — the base registries: persons (人口) and legal entities (法人)."""
