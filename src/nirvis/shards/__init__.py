"""Sharded, resumable, byte-reproducible WebDataset generation of rendered NIR/VIS pairs.

Modules (import what you need; importing the package itself loads nothing heavy):

    config   ``RenderDatasetConfig`` (frozen dataclasses, nested ``SampleSpace``), ``load_config``
             (YAML + flag overrides, errors naming the field), presets in ``configs/render/``.
    format   on-disk layout, shard plan (``plan_shards``), deterministic PNG / tar writers.
    render   ``render_dataset(config, out)``: workers, torchrun ranks, resume, manifest.
    reader   streaming reader for training: ``iter_pairs``, ``iter_identity_groups``, ``PairDataset``.
    verify   ``verify_dataset``: hashes, counts, keys, decodability, index files.
    index    DALI ``.idx`` per shard and ``wids-index.json`` (derived from the tars; ``nirvis index``
             is ``verify.index_dataset``).
    export   InsightFace RecordIO / image folders / preview sheet; a RecordIO codec.
    cli      ``register(subparsers)``: render-dataset, verify, index, preview, export.
    bench    ``bench_render_dataset``: end-to-end throughput vs raw rasterisation.

A sample is one pair, key ``<label:07d>_<index:04d>``, members ``vis.png`` (RGB8), ``nir.png``
(grey8) and ``json`` (label, identity seed, pose, expression, lighting, accessories, 5/68-point
landmarks of both aligned images, pairing, renderer backend and version, full SampleParams, and
``identity``: the label's sex, age, ancestry, shape traits and sampled appearance, see
``format.identity_record``).
"""
