"""The moderators' review page: held comments, verdicts by button or key, behind a login (see docs/review.md)."""
