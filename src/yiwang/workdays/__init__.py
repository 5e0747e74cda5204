"""Working days: the Chinese public-holiday calendar, promised limits and deadlines (工作日 / 办理时限)."""
