"""Channel clients: the registered apps, sites, bots and counters that report problems."""
