"""Scorers: each turns a batch of comments into labels and pattern matches."""
