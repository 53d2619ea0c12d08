"""The organisation tickets are routed through: departments, agents and the category map."""
