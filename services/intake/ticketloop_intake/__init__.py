"""intake: accepts problems from every channel, keeps tickets and their timeline."""
