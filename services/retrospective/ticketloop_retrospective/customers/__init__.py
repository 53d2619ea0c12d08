"""Customers: a read model of each customer built from the loop's events, the segment it puts
them in (SPEC §5), the segments' history and the goals the reviews track."""
