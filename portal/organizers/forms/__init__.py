"""The organizer pages' forms, one module per area: they parse, the services decide."""
