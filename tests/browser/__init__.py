"""The browser tier: the dashboard in a real headless Chromium."""
