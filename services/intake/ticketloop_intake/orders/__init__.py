"""Orders a commerce system reports: recorded, announced with `order.recorded`, and the source of
the knowledge base's order-status answer."""
