"""Sequence classification / tagging recipes on real data (issue #6). ``recipes.py``
merges ``RECIPES`` into the registry."""

RECIPES: dict = {}
