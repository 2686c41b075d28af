import numpy as np
import pytest

from nirvis.train.lists import ImageList, ListError
from nirvis.train.sampler import IdentityBatchSampler, ShardGroupSource


@pytest.fixture()
def images(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    for name in ("a/VIS_1.png", "a/nir_1.png", "a/nir_2.png", "b/vis_1.png", "b/nir_1.png", "c/VIS_only.png"):
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(p), rng.integers(0, 255, (120, 100, 3), dtype=np.uint8))
    return tmp_path


def test_third_column(images):
    (images / "l.txt").write_text("# comment\na/VIS_1.png 0 VIS\na/nir_1.png 0 nir\na/nir_2.png 0 NIR\n"
                                  "b/vis_1.png 1 VIS\nb/nir_1.png 1 NIR\nc/VIS_only.png 2 VIS\n")
    il = ImageList(images / "l.txt", label_offset=10, group_size=2)
    assert sorted(il.by_label) == [0, 1] and il.dropped == 1 and il.num_classes() == 2
    groups = list(il.groups(seed=0, epoch=0))
    assert {g.label for g in groups} == {10, 11}
    g = groups[0]
    assert g.load(g.vis[0], "vis").shape == (112, 112, 3) and g.load(g.nir[0], "nir").shape == (112, 112)


def test_regex_rule_never_guesses(images):
    (images / "l.txt").write_text("a/VIS_1.png 0\na/nir_1.png 0\n")
    with pytest.raises(ListError, match="no modality"):
        ImageList(images / "l.txt")
    il = ImageList(images / "l.txt", vis_regex=r"/VIS_", nir_regex=r"/nir_")
    assert il.by_label[0] == ([str(images / "a/VIS_1.png")], [str(images / "a/nir_1.png")])
    (images / "m.txt").write_text("a/VISnir_1.png 0\n")
    with pytest.raises(ListError, match="m.txt:1: .*neither"):
        ImageList(images / "m.txt", vis_regex=r"/VIS_", nir_regex=r"/nir_")
    (images / "n.txt").write_text("a/x.png zero VIS\n")
    with pytest.raises(ListError, match="n.txt:1: label 'zero'"):
        ImageList(images / "n.txt")


def test_mix_synthetic_and_real(images, tiny_data):
    (images / "l.txt").write_text("a/VIS_1.png 0 VIS\na/nir_1.png 0 NIR\nb/vis_1.png 1 VIS\nb/nir_1.png 1 NIR\n")
    shards = ShardGroupSource([tiny_data], 2, shuffle_buffer=4)
    real = ImageList(images / "l.txt", label_offset=shards.num_classes(), group_size=2)
    s = IdentityBatchSampler([shards, real], 4, 2, 2, seed=0, weights=[24, 2])
    labels = set()
    it = iter(s)
    while s.epoch == 0:
        labels |= set(next(it).labels_vis.tolist())
    assert labels <= set(range(8)) and labels & {6, 7}


def test_sparse_and_huge_labels_become_dense_classes(images):
    """A label of 1e9 used to size the classifier (a 256 GB allocation); now it is class 1."""
    (images / "l.txt").write_text("a/VIS_1.png 7 VIS\na/nir_1.png 7 NIR\nb/vis_1.png 1000000000 VIS\n"
                                  "b/nir_1.png 1000000000 NIR\n")
    il = ImageList(images / "l.txt", label_offset=5, group_size=2)
    assert il.num_classes() == 2 and il.classes == {7: 0, 1000000000: 1}
    assert {g.label for g in il.groups(seed=0, epoch=0)} == {5, 6}


def test_a_list_that_is_not_utf8_is_named(images):
    (images / "l.txt").write_bytes("a/VIS_1.png 0 VIS\n# r\xe9sum\xe9\n".encode("latin-1"))
    with pytest.raises(ListError, match=r"l\.txt: not UTF-8 text"):
        ImageList(images / "l.txt")
