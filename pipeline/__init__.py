"""The stages compare.py wires together, and what they share.

- `pipeline.settings`: the `Settings` of a run (flags and TOML config), their validation.
- `pipeline.cache`: stage cache keys (`fingerprint`, `code_fingerprint`) and `StageCache`, the
  folders of finished stage outputs that let a rerun skip work and an interrupted run resume.
- `pipeline.stages`: data (find, download or generate it; `load_data`), the embedding models,
  the log-mel features and the CNN, each trained or reused from the cache.
- `pipeline.facts`: what a run records about itself: ``run.json``, ``label_stats.csv``.
"""
