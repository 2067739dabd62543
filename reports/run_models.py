"""The models of a run as the report names, groups and pairs them.

Model ids follow docs/architecture.md ("The run folder"): a classical model trained on an embedding
is ``"<classifier>@<embedding>"`` (``"lr@release"``, ``"xgb@musicnn"``); a network with its own
front end has a plain id (``"cnn"``, ``"musicnn-ft"``). ``run.json``'s ``models[id]`` may say
``classifier``, ``embedding`` and ``label`` itself; what it leaves out is read from the id. Runs
written before embeddings became a dimension have plain ids for every model: a plain ``lr``, ``xgb``
or ``rf`` is that classifier on the embedding ``"release"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from core import registry

#: Classifiers trained on an embedding (the rows of the classifier x embedding grid), in grid order.
CLASSICAL = registry.model_ids("classical")
#: Display names of classifiers.
CLASSIFIER_LABELS = {spec.id: spec.label for spec in registry.MODELS}
#: The embedding of a classical model whose id has no ``@`` (runs from before embeddings were a dimension).
LEGACY_EMBEDDING = "release"
ID_SEPARATOR = "@"
LABEL_SEPARATOR = " · "


@dataclass(frozen=True)
class ModelInfo:
    """One model of the run, as the report shows it.

    Attributes
    ----------
    id : str -- the model id of ``predictions.npz`` (``proba_<id>``) and ``metrics.csv``
    classifier : str -- ``"lr"``, ``"xgb"``, ``"rf"``, ``"cnn"``, ...
    embedding : str or None -- the embedding a classical model was trained on; None for a network
    label : str -- display text, unique within the run (``"LR · musicnn"``)
    facts : dict -- the model's entry of ``run.json`` (empty when absent)
    """

    id: str
    classifier: str
    embedding: str | None
    label: str
    facts: dict

    @property
    def classical(self) -> bool:
        """Whether the model is a classifier trained on an embedding (a row of the grid)."""
        return self.classifier in CLASSICAL and self.embedding is not None


def parse_model_id(model_id: str) -> tuple[str, str | None]:
    """(classifier, embedding) read from a model id.

    Examples
    --------
    >>> parse_model_id("xgb@musicnn")
    ('xgb', 'musicnn')
    >>> parse_model_id("lr"), parse_model_id("cnn")
    (('lr', 'release'), ('cnn', None))
    """
    if ID_SEPARATOR in model_id:
        classifier, embedding = model_id.split(ID_SEPARATOR, 1)
        return classifier, embedding
    return model_id, (LEGACY_EMBEDDING if model_id in CLASSICAL else None)


def _default_label(model_id: str, classifier: str, embedding: str | None) -> str:
    if embedding is None:
        return CLASSIFIER_LABELS.get(model_id, model_id)
    return CLASSIFIER_LABELS.get(classifier, classifier) + LABEL_SEPARATOR + embedding


def model_infos(run_models: dict, ids: Iterable[str]) -> dict[str, ModelInfo]:
    """Every model of ``ids`` with its classifier, embedding and a unique label.

    Parameters
    ----------
    run_models : dict -- ``run.json``'s ``models`` (may be empty, or lack some ids)
    ids : iterable of str -- the models evaluated, in report order

    Returns
    -------
    dict id -> ModelInfo, in the order of ``ids``; where two labels coincide, both get ``(id)``
    appended so that no two rows of a table or lines of a plot read the same.
    """
    infos = {}
    for model_id in ids:
        facts = run_models.get(model_id) or {}
        classifier, embedding = parse_model_id(model_id)
        classifier = str(facts.get("classifier") or classifier)
        embedding = facts["embedding"] if "embedding" in facts else embedding
        embedding = None if embedding is None else str(embedding)
        label = str(facts.get("label") or _default_label(model_id, classifier, embedding))
        infos[model_id] = ModelInfo(model_id, classifier, embedding, label, facts)
    labels = [info.label for info in infos.values()]
    return {
        m: info if labels.count(info.label) == 1 else ModelInfo(
            m, info.classifier, info.embedding, f"{info.label} ({m})", info.facts)
        for m, info in infos.items()
    }


def embeddings_of(infos: dict[str, ModelInfo], listed: Iterable[str] = ()) -> list[str]:
    """The embeddings classical models were trained on: ``listed`` order first, then first use."""
    used = {info.embedding for info in infos.values() if info.classical}
    return [e for e in dict.fromkeys([*listed, *(i.embedding for i in infos.values() if i.classical)])
            if e in used]


def comparison_pairs(
    infos: dict[str, ModelInfo], listed_embeddings: Iterable[str] = ()
) -> tuple[list[tuple[str, str]], str]:
    """The pairs of models the report compares, and the rule that chose them, in words.

    With one embedding (or none), every pair. With several, all pairs would be too many to read
    (21 for 7 models) and most would mix two changes at once, so only pairs that differ in one
    respect: for each classifier, its embeddings against each other (``lr@release`` vs
    ``lr@musicnn``); for each embedding, each classifier on it against each network (``cnn``); and
    the networks against each other.

    Parameters
    ----------
    infos : dict id -> ModelInfo (see :func:`model_infos`)
    listed_embeddings : iterable of str -- embedding order (``run.json``'s ``embeddings``)

    Returns
    -------
    pairs : list of (model_a, model_b) -- differences are A - B
    rule : str
    """
    embeddings = embeddings_of(infos, listed_embeddings)
    ids = list(infos)
    if len(embeddings) <= 1:
        return list(combinations(ids, 2)), "every pair of models (the run has a single embedding)."
    classical = [i for i in infos.values() if i.classical]
    networks = [m for m, i in infos.items() if not i.classical]
    pairs: list[tuple[str, str]] = []
    for classifier in dict.fromkeys(i.classifier for i in classical):
        same = sorted((i for i in classical if i.classifier == classifier),
                      key=lambda i: embeddings.index(i.embedding))
        pairs += [(a.id, b.id) for a, b in combinations(same, 2)]
    for embedding in embeddings:
        pairs += [(i.id, net) for i in classical if i.embedding == embedding for net in networks]
    pairs += list(combinations(networks, 2))
    rule = ("pairs that differ in one respect only, not every pair: for each classifier, its "
            "embeddings against each other; for each embedding, each classifier trained on it "
            "against each network; and the networks against each other.")
    return pairs, rule
