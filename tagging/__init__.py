"""Score your own recordings with the trained models of a run (``python compare.py tag``).

=============  ==================================================================
`inputs`       what each model reads, computed from a 10 s window as in training
`stream`       sliding windows over a file of any length, read in blocks
`models`       the run folder's models, inputs and thresholds; version checks
`score`        one file: per-window and whole-file probabilities of every model
`outputs`      tags.csv and tags.json, written file by file
`page`         the HTML page: heatmaps (instrument x time) and verdicts
`command`      the command line
=============  ==================================================================

>>> from tagging.models import load_run_models
>>> from tagging.score import score_file
>>> models = load_run_models("runs/20261128-095900-demo")
>>> score = score_file("song.flac", models)
>>> score.timelines["cnn"].proba.shape, score.timelines["cnn"].whole.shape   # doctest: +SKIP
((231, 20), (20,))
"""
