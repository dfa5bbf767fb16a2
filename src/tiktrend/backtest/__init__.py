"""Backtesting: replay history bucket by bucket, score with each detector what was known at the time, and
compare with ground truth (planted trends, future-based labels, Creative Center lists, external labels)."""
