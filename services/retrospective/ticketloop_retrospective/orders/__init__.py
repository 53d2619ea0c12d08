"""Orders as retrospective knows them (from `order.recorded`): spend per customer, the signals of
growth, the repurchase rate, and the moments care anticipates after an order."""
