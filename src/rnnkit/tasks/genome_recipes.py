"""Genome recipes (issue #6): see sequence_recipes.py for what this module exports."""

RECIPES: dict = {}
READERS: dict = {}
