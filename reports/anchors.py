"""Published reference numbers on OpenMIC-2018 (split01 test, per instrument on observed labels).

Only meaningful beside results on the real OpenMIC-2018 release; the report shows them only when
``run.json``'s ``dataset.source`` is ``"openmic"``.
"""

RF_BASELINE_ATTRIBUTION = (
    "cosmir/openmic-2018 modeling-baseline (examples/modeling-baseline.ipynb): "
    "RandomForest(max_depth=8, 100 trees) per instrument on clip-mean VGGish, "
    "test split, positive class"
)

#: instrument -> (precision, recall, positive-class F1) of the official random-forest baseline.
RF_BASELINE: dict[str, tuple[float, float, float]] = {
    "accordion": (0.77, 0.32, 0.45),
    "banjo": (0.68, 0.52, 0.59),
    "bass": (0.83, 0.49, 0.61),
    "cello": (0.79, 0.76, 0.78),
    "clarinet": (0.71, 0.09, 0.16),
    "cymbals": (0.93, 0.98, 0.96),
    "drums": (0.90, 0.97, 0.93),
    "flute": (0.64, 0.36, 0.46),
    "guitar": (0.98, 0.98, 0.98),
    "mallet_percussion": (0.78, 0.69, 0.73),
    "mandolin": (0.59, 0.57, 0.58),
    "organ": (0.67, 0.25, 0.36),
    "piano": (0.93, 0.98, 0.96),
    "saxophone": (0.80, 0.86, 0.83),
    "synthesizer": (0.96, 0.97, 0.97),
    "trombone": (0.77, 0.54, 0.63),
    "trumpet": (0.78, 0.62, 0.69),
    "ukulele": (0.67, 0.54, 0.60),
    "violin": (0.84, 0.94, 0.89),
    "voice": (0.93, 0.96, 0.94),
}
#: The baseline's means over the 20 instruments.
RF_MEAN_F1_POS = 0.705
RF_MEAN_F1_POSNEG = 0.784

#: Other published figures: (system, input, metric, value).
OTHER_PUBLISHED: tuple[tuple[str, str, str, str], ...] = (
    ("logistic regression per instrument, balanced class weights, C by 3-fold CV "
     "(10 of 20 classes; changhongw/audio-embedding-bias)", "VGGish",
     "mean positive-class F1 / AUC / AP", "0.762 / 0.877 / 0.803"),
    ("Gururani et al. 2019, small fully-connected net (AttentionMIC)", "VGGish 10x128",
     "macro F1 (pos/neg)", "0.797"),
    ("PaSST-S, fine-tuned from AudioSet", "log-mel 128 @ 32 kHz", "mAP", "0.843"),
    ("EAsT-KD (CNN student, PaSST teacher)", "log-mel 128", "mAP", "0.852"),
    ("frozen large pretrained models + linear probe (BEATs, PaSST, HTS-AT)", "own front ends",
     "mAP", "0.86-0.87"),
)
