"""政务服务事项目录 — the service catalogue: items, bundles (一件事), their forms and search."""
