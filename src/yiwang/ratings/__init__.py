"""Ratings (好差评): applicants rate closed applications; bad ratings open a rectification."""
