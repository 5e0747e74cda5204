"""一网统管: city events from every channel, triage, dispatch, handling, escalation, emergency mode."""
