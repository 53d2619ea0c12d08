"""feedback: surveys customers after resolution and records their satisfaction."""
