"""routing: owns the organisation (departments, agents, category map) and assigns tickets."""
