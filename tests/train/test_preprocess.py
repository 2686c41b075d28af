"""One input convention for training and evaluation (``nirvis.train.preprocess``)."""

import numpy as np
import pytest
import torch

from nirvis.evaluate.features import embed, prepare_batch
from nirvis.train.checkpoint import build_model, load_embedding_model, save_checkpoint
from nirvis.train.config import dump_yaml
from nirvis.train.preprocess import model_input, normalise, to_grey, training_input

from train_helpers import tiny_config


def random_faces(seed, n=5):
    rng = np.random.default_rng(seed)
    vis = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(n)]
    nir = [rng.integers(0, 256, (112, 112), dtype=np.uint8) for _ in range(n)]
    return vis, nir


def test_grey_is_pil_convert_L_for_every_colour():
    from PIL import Image

    v = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([v >> 16, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8).reshape(1, 4096, 4096, 3)
    want = np.asarray(Image.fromarray(rgb[0]).convert("L"))
    assert np.array_equal(to_grey(rgb)[0], want)
    grey = rgb[..., 0]
    assert to_grey(grey) is grey and np.array_equal(to_grey(grey[..., None]), grey)
    with pytest.raises(ValueError, match="uint8"):
        to_grey(rgb.astype(np.float32))


def test_model_input_shapes_values_and_errors():
    vis, nir = random_faces(0, 2)
    x = model_input(vis, channels=3)
    assert x.shape == (2, 3, 112, 112) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # an RGB model gets grey VIS
    assert torch.equal(x[:, 0] * 255, torch.from_numpy(to_grey(np.stack(vis))).float())
    colour = model_input(np.stack(vis), channels=3, grey=False)
    assert torch.equal(colour * 255, torch.from_numpy(np.stack(vis).transpose(0, 3, 1, 2)).float())
    assert model_input(nir, channels=1).shape == (2, 1, 112, 112)
    assert float(model_input(np.full((1, 4, 4), 255, np.uint8), 1).max()) == 1.0
    for bad, match in ((dict(images=np.stack(vis), channels=2), "channels"),
                       (dict(images=np.stack(vis), channels=1, grey=False), "channels=3"),
                       (dict(images=np.zeros((1, 4, 4), np.float32)), "uint8")):
        with pytest.raises(ValueError, match=match):
            model_input(**bad)


@pytest.mark.parametrize("channels,mean,std", [(1, 0.0, 1.0), (3, 0.5, 0.5), (1, 0.25, 2.0)])
def test_training_and_evaluation_feed_identical_tensors(channels, mean, std):
    vis, nir = random_faces(1)
    for images in (vis, nir):
        train_x = training_input(images, channels, mean, std)
        eval_x = normalise(prepare_batch(np.stack(images), channels=channels), mean, std)  # evaluate's path
        assert train_x.dtype == eval_x.dtype == torch.float32
        assert torch.equal(train_x, eval_x)


@pytest.mark.parametrize("in_channels,mean,std", [(1, 0.0, 1.0), (3, 0.5, 0.5)])
def test_checkpoint_features_in_evaluation_equal_the_trainers(tmp_path, in_channels, mean, std):
    """A saved model evaluated through ``load_embedding_model`` + ``evaluate.features.embed`` sees the
    same input as in training: identical features for the same uint8 VIS and NIR images."""
    cfg = tiny_config(**{"model.in_channels": in_channels, "data.mean": mean, "data.std": std})
    torch.manual_seed(0)
    backbone, head = build_model(cfg, 4)
    save_checkpoint(tmp_path, 1, backbone, head, {"step": 1}, dump_yaml(cfg))
    model_fn = load_embedding_model(tmp_path)
    backbone.eval()
    vis, nir = random_faces(2)
    for images in (vis, nir):
        with torch.no_grad():
            trained = backbone(training_input(images, in_channels, mean, std))
        evaluated = model_fn(prepare_batch(np.stack(images), channels=model_fn.in_channels))
        assert torch.equal(trained, evaluated)
        f = embed(np.stack(images), model_fn, flip=False, channels=model_fn.in_channels)
        np.testing.assert_allclose(f, torch.nn.functional.normalize(trained, dim=1).numpy(), atol=1e-6)


def test_list_images_and_benchmark_images_become_identical_tensors(tmp_path):
    """The same files read by a training list (``nirvis.train.lists``) and by a benchmark loader
    (``evaluate.benchmarks.base.read_image_file``): identical model input, also for NIR stored as
    3-channel colour files (common for NIR frames saved as RGB JPEG/PNG)."""
    import cv2

    from nirvis.evaluate.benchmarks.base import read_image_file
    from nirvis.train.lists import ImageList

    rng = np.random.default_rng(4)
    files = {"vis.png": rng.integers(0, 256, (112, 112, 3), dtype=np.uint8),
             "vis_grey.png": rng.integers(0, 256, (112, 112), dtype=np.uint8),
             "nir_rgb.png": np.clip(rng.integers(0, 256, (112, 112, 1)) + rng.integers(-3, 4, (112, 112, 3)),
                                    0, 255).astype(np.uint8),
             "nir.png": rng.integers(0, 256, (112, 112), dtype=np.uint8)}
    for name, img in files.items():
        assert cv2.imwrite(str(tmp_path / name), img[..., ::-1] if img.ndim == 3 else img)
    (tmp_path / "train.txt").write_text("vis.png 0 VIS\nvis_grey.png 0 VIS\nnir_rgb.png 0 NIR\nnir.png 0 NIR\n")
    group = next(ImageList(str(tmp_path / "train.txt"), group_size=2).groups(seed=0, epoch=0))
    for modality, paths in (("vis", group.vis), ("nir", group.nir)):
        for p in paths:
            for channels in (1, 3):
                train_x = training_input([group.load(p, modality)], channels)
                eval_x = prepare_batch(read_image_file(p)[None], channels=channels)
                assert torch.equal(train_x, eval_x), (p, channels)
