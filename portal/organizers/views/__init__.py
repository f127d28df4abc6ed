"""The organizer's pages, one module per area (dashboard, challenge, phases, people, participants)."""
