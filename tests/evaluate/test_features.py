import numpy as np
import pytest
import torch

from nirvis.evaluate.features import RandomProjection, cosine_scores, embed, prepare_batch, to_grey


def test_grey_conversion_matches_opencv():
    import cv2

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    g = to_grey(rgb)
    ref = np.stack([cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in rgb])
    assert np.abs(g.astype(int) - ref).max() <= 1


def test_prepare_batch_shapes_and_range():
    img = np.full((2, 112, 112, 3), 255, np.uint8)
    x = prepare_batch(img, channels=1)
    assert x.shape == (2, 1, 112, 112) and x.dtype == torch.float32 and float(x.max()) == 1.0
    assert prepare_batch(img[..., 0], channels=3).shape == (2, 3, 112, 112)
    rgb = prepare_batch(np.stack([np.zeros((112, 112, 3), np.uint8)] * 2), channels=3, grey=False)
    assert rgb.shape == (2, 3, 112, 112)
    with pytest.raises(ValueError):
        prepare_batch(img.astype(np.float32))


def test_embed_is_flip_sum_normalised_and_batch_independent():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (5, 112, 112), dtype=np.uint8)
    m = RandomProjection(dim=16, channels=1)
    f1 = embed(imgs, m, batch_size=2, channels=1)
    f2 = embed(imgs, m, batch_size=5, channels=1)
    np.testing.assert_allclose(f1, f2, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(f1, axis=1), 1, atol=1e-5)
    x = torch.from_numpy(imgs[:, None]).float() / 255
    ref = _unit(_unit(m(x).numpy()) + _unit(m(torch.flip(x, dims=[3])).numpy()))
    np.testing.assert_allclose(f1, ref, atol=1e-5)
    # flipped input gives the same feature with flip=True
    np.testing.assert_allclose(embed(imgs[:, :, ::-1], m, channels=1), f1, atol=1e-5)
    nf = embed(imgs, m, channels=1, flip=False)
    assert not np.allclose(nf, f1)


def _unit(f):
    return f / np.linalg.norm(f, axis=1, keepdims=True)


class _Uneven:
    """A model whose output norm depends on the image (and differs between an image and its
    flip): the weight of each view in a raw sum would follow that norm."""

    in_channels = 1

    def __init__(self):
        g = torch.Generator().manual_seed(4)
        self.w = torch.randn(16 * 16, 8, generator=g)

    def __call__(self, x):
        p = torch.nn.functional.adaptive_avg_pool2d(x, 16).flatten(1)
        left = x[..., :56].mean(dim=(1, 2, 3))  # the flip swaps the halves: a different norm
        return (p - p.mean(1, keepdim=True)) @ self.w * (1 + 20 * left[:, None] ** 2)


def test_flip_feature_adds_normalised_views():
    """embed = normalise(n(f(x)) + n(f(flip x))), as the reference, not normalise(f(x) + f(flip x))."""
    rng = np.random.default_rng(7)
    imgs = rng.integers(0, 256, (4, 112, 112), dtype=np.uint8)
    imgs[:, :, :56] //= 4  # dark left half: the flipped image has a very different output norm
    m = _Uneven()
    x = torch.from_numpy(imgs[:, None]).float() / 255
    a, b = m(x).numpy(), m(torch.flip(x, dims=[3])).numpy()
    ratio = np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert (np.abs(np.log(ratio)) > 0.5).all()  # the two views' norms do differ
    got = embed(imgs, m, channels=1)
    np.testing.assert_allclose(got, _unit(_unit(a) + _unit(b)), atol=1e-5)
    assert np.abs(got - _unit(a + b)).max() > 0.05  # the raw sum is a different feature
    np.testing.assert_allclose(embed(imgs, m, channels=1, flip_sum="raw"), _unit(a + b), atol=1e-5)
    np.testing.assert_allclose(embed(imgs, m, channels=1, flip=False), _unit(a), atol=1e-5)
    with pytest.raises(ValueError, match="flip_sum"):
        embed(imgs, m, channels=1, flip_sum="mean")


def test_embed_errors_and_scores():
    m = RandomProjection(dim=8)
    with pytest.raises(ValueError, match="aligned crops"):
        embed(np.zeros((2, 100, 100, 3), np.uint8), m)
    with pytest.raises(ValueError, match=r"features \[B, D\]"):
        embed(np.zeros((2, 112, 112, 3), np.uint8), lambda x: x)
    s = cosine_scores(np.array([[2.0, 0], [0, 1]]), np.array([[1.0, 0], [1, 1]]))
    np.testing.assert_allclose(s, [[1, np.sqrt(0.5)], [0, np.sqrt(0.5)]])
