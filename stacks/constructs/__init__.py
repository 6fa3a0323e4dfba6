"""The logical parts the stacks compose. Each exposes what it created as typed attributes."""
