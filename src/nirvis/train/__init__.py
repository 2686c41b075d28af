"""ID-MMD training of cross-spectral (NIR-VIS) face embeddings on rendered shards and real lists.

Public API:
    backbones.build_backbone(name, in_channels, **kw)       LightCNN-29 / IResNet / MobileFaceNet
    heads.CosFace, heads.ArcFace, heads.build_head           margin heads
    losses.id_mmd(vis, nir, labels_vis, labels_nir, kind)    ID-MMD (rbf reference or linear)
    sampler.IdentityBatchSampler, sampler.ShardGroupSource   identity-paired streaming batches
    lists.ImageList                                          real ``path label [VIS|NIR]`` lists
    config.load_config(path, overrides) -> TrainConfig       typed YAML config
    loop.train(cfg, data, out, resume=False) -> dict         the training loop
    preprocess.model_input / training_input                  uint8 images -> model input (shared with evaluate)
    checkpoint.load_pretrained / load_trained                weights in and out
    export.export_model(run_dir, format, out)                ONNX / TorchScript
    bench.bench_train(cfg, data) -> dict                     loader / step throughput
    cli.register(subparsers)                                 ``nirvis train`` / ``nirvis export-model``

Held-out cross-modal Rank-1 of a trained model: ``nirvis eval synthetic`` (``nirvis.evaluate``).
"""
