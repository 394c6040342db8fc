"""The DVC stages of the study, one module each; each module is the only writer and the only
reader of its stage's outputs.

========  =====================================  ==============================================
stage     module                                  outputs
========  =====================================  ==============================================
faces     :mod:`facecluster.stages.faces`         ``data/faces/<d>/`` (manifest, crops, summary)
weights   :mod:`facecluster.stages.weights`       ``data/models/<m>/``
embed     :mod:`facecluster.stages.embed`         ``data/embeddings/<d>-<m>.npz``
maps      :mod:`facecluster.stages.maps`          ``data/maps/<d>-<m>-{umap,tsne}.png`` (every
                                                  study pair's, in one run)
features  :mod:`facecluster.stages.features`      ``data/embeddings/<d>-<m>.npz`` of a dataset of
                                                  precomputed vectors (the embed layout)
subsets   :mod:`facecluster.stages.subsets`       ``data/subsets/<d>.npz``
sweep     :mod:`facecluster.stages.sweep`         ``data/results/<d>-<m>.parquet``
table_one :mod:`facecluster.stages.table_one`     ``data/table_one/<setup>-<column>.parquet``
                                                  (a Table I sweep: the report's setup, or one
                                                  factor of it changed)
otto      :mod:`facecluster.stages.otto`          ``data/otto/<m>/`` (Otto et al.'s protocol on
                                                  every face of one dataset: lfw-all)
scale     :mod:`facecluster.stages.scale`         ``data/scale/<m>/`` (lfw-all among N simulated
                                                  distractors: F1, time, memory, recall)
reproduc… :mod:`facecluster.stages.reproduction`  ``reports/reproduction/metrics.json``
report    :mod:`facecluster.stages.report`        ``reports/metrics.json``, ``reports/plots/``
========  =====================================  ==============================================

Each has one ``run(...)``; ``facecluster stage <name> <item>`` runs the stages without a
notebook, and the notebooks call ``stages.<name>.run`` and display what it returns.  A dataset
the faces stage skipped (an empty personal folder) flows through every stage as the empty
form of its outputs, marked by one field, ``skip_reason`` (:mod:`facecluster.artifacts`).

This package imports nothing: each stage's import closure is only what it uses (dvc.yaml
lists exactly that closure; ``tests/unit/test_dvc_deps.py`` keeps them equal).
"""

#: The stages, in pipeline order.
STAGES = (
    "faces", "weights", "embed", "maps", "features", "subsets", "sweep", "table_one", "otto",
    "scale", "reproduction", "report",
)  # fmt: skip
