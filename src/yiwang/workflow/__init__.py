"""工作流 — BPMN 2.0 approval processes run by SpiffWorkflow behind ``workflow.engine``."""
