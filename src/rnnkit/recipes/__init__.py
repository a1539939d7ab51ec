"""Recipes by field: ``text``, ``memory``, ``genome``, ``handwriting``, ``speech``,
``timeseries``. Each recipe is a ``base.Recipe`` (defaults with reasons, a smoke config,
``build(cfg) -> Setup``, its target) registered in ``registry``; ``run_recipe`` runs any
of them through the one training loop and writes report.md and result.json."""
