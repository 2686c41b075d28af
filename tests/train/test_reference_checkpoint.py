"""Weights files of the reference (insightface recognition/idmmd) load for evaluation and give the
features the reference network gives.

The reference LightCNN-29 for 112x112 grey input is restated here (its module and parameter
names, its eval-mode output: the L2-normalised 256-d fc feature) and saved as the reference's
``utils.save_checkpoint`` saves it: ``torch.save({'epoch', 'state_dict'})`` of a DataParallel
model (keys ``module.*``), pre-trained (classifier ``fc2``) or fine-tuned (CosFace class weights
``weight``)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nirvis.evaluate.features import embed
from nirvis.train.backbones.lightcnn import LightCNN29
from nirvis.train.checkpoint import CheckpointError, infer_backbone, load_embedding_model, load_weights_file

NUM_CLASSES = 725  # CASIA NIR-VIS 2.0 training identities, the reference's num_classes


class RefMFM(nn.Module):
    def __init__(self, cin, cout, k=3, stride=1, pad=1, linear=False):
        super().__init__()
        self.cout = cout
        self.filter = nn.Linear(cin, 2 * cout) if linear else nn.Conv2d(cin, 2 * cout, k, stride, pad)

    def forward(self, x):
        a, b = torch.split(self.filter(x), self.cout, 1)
        return torch.max(a, b)


class RefGroup(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = RefMFM(cin, cin, 1, 1, 0)
        self.conv = RefMFM(cin, cout, 3, 1, 1)

    def forward(self, x):
        return self.conv(self.conv_a(x))


class RefRes(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.conv2 = RefMFM(c, c), RefMFM(c, c)

    def forward(self, x):
        return self.conv2(self.conv1(x)) + x


class RefLightCNN29(nn.Module):
    """``network_29layers`` (``cosface=False``: classifier ``fc2``) or
    ``network_29layers_cosface`` (class weights ``weight``), 112x112 grey input."""

    def __init__(self, num_classes, cosface=False):
        super().__init__()
        pool = lambda: nn.MaxPool2d(2, 2, ceil_mode=True)  # noqa: E731
        self.conv1, self.pool1 = RefMFM(1, 48, 5, 1, 2), pool()
        self.block1 = nn.Sequential(RefRes(48))
        self.group1, self.pool2 = RefGroup(48, 96), pool()
        self.block2 = nn.Sequential(*[RefRes(96) for _ in range(2)])
        self.group2, self.pool3 = RefGroup(96, 192), pool()
        self.block3 = nn.Sequential(*[RefRes(192) for _ in range(3)])
        self.group3 = RefGroup(192, 128)
        self.block4 = nn.Sequential(*[RefRes(128) for _ in range(4)])
        self.group4, self.pool4 = RefGroup(128, 128), pool()
        self.fc = RefMFM(7 * 7 * 128, 256, linear=True)
        if cosface:
            self.weight = nn.Parameter(torch.randn(num_classes, 256))
        else:
            self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.group1(self.block1(x)))
        x = self.pool3(self.group2(self.block2(x)))
        x = self.pool4(self.group4(self.block4(self.group3(self.block3(x)))))
        assert not self.training
        return F.normalize(self.fc(x.flatten(1)), p=2, dim=1)


def reference_features(net, images):
    """The reference's evaluation feature of uint8 grey images [N, 112, 112]: each image and its
    left-right flip through the network (pixel / 255), the two normalised outputs added, the sum
    normalised (float32 numpy)."""
    out = []
    for img in images:
        pair = np.stack([img, np.fliplr(img)])[:, None].astype(np.float32) / 255
        with torch.no_grad():
            f = net(torch.from_numpy(pair)).numpy()
        out.append(f.reshape(-1))
    f = np.array(out, np.float32)
    f = f[:, :256] + f[:, 256:]
    return f / np.sqrt(np.sum(f ** 2, -1, keepdims=True))


@pytest.fixture(scope="module")
def reference_nets():
    torch.manual_seed(11)
    pre = RefLightCNN29(NUM_CLASSES).eval()
    fine = RefLightCNN29(NUM_CLASSES, cosface=True).eval()
    fine.load_state_dict({k: v for k, v in pre.state_dict().items() if not k.startswith("fc2.")}, strict=False)
    with torch.no_grad():
        fine.fc.filter.weight.mul_(1.5)  # fine-tuning changed the embedding
    return pre, fine


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (2, 112, 112), dtype=np.uint8)


def _save_reference(net, path, epoch):
    # the reference trains under DataParallel: its state_dict keys carry "module."
    torch.save({"epoch": epoch, "state_dict": nn.DataParallel(net).state_dict()}, path)


def test_parameter_names_are_the_references():
    ours = LightCNN29().state_dict()
    ref = RefLightCNN29(NUM_CLASSES).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == \
        {k: tuple(v.shape) for k, v in ref.items() if not k.startswith("fc2.")}


@pytest.mark.parametrize("kind", ["pretrained", "finetuned"])
def test_reference_checkpoint_gives_the_reference_features(kind, reference_nets, images, tmp_path):
    net = reference_nets[kind == "finetuned"]
    path = tmp_path / f"LightCNN_29_{kind}_e7.pth.tar"
    _save_reference(net, path, epoch=7)
    model_fn = load_embedding_model(path, **({"backbone": "lightcnn29"} if kind == "finetuned" else {}))
    info = model_fn.info
    assert (info["backbone"], info["epoch"], model_fn.in_channels) == ("lightcnn29", 7, 1)
    assert info["kwargs"] == {"in_channels": 1, "width": 1.0, "embedding_size": 256}
    assert info["ignored"] == ([f"weight [{NUM_CLASSES}, 256]"] if kind == "finetuned"
                               else [f"fc2.weight [{NUM_CLASSES}, 256]", f"fc2.bias [{NUM_CLASSES}]"])
    if kind == "finetuned":  # the network's own output (one image; the flip feature is checked below)
        x = torch.from_numpy(images[:1, None]).float() / 255
        with torch.no_grad():
            np.testing.assert_allclose(F.normalize(model_fn(x), dim=1).numpy(), net(x).numpy(), atol=1e-6)
    else:  # what `nirvis eval` computes = what the reference's evaluation computes
        got = embed(images, model_fn, channels=model_fn.in_channels)
        np.testing.assert_allclose(got, reference_features(net, images), atol=1e-6)


def test_real_mismatches_are_refused_with_key_and_shapes(reference_nets, tmp_path):
    sd = {f"module.{k}": v for k, v in reference_nets[1].state_dict().items()}
    bad = dict(sd, **{"module.block2.1.conv2.filter.weight": torch.zeros(192, 96, 3, 1)})
    torch.save({"epoch": 1, "state_dict": bad}, tmp_path / "shape.pth.tar")
    with pytest.raises(CheckpointError, match=r"'block2\.1\.conv2\.filter\.weight' has shape \[192, 96, 3, 1\] "
                                              r"in the checkpoint but \[192, 96, 3, 3\] in the model"):
        load_weights_file(tmp_path / "shape.pth.tar")
    # a 'weight' that cannot be the classifier of 256-d features is not ignored
    odd = dict(sd, **{"module.weight": torch.zeros(NUM_CLASSES, 128)})
    torch.save({"epoch": 1, "state_dict": odd}, tmp_path / "head.pth.tar")
    with pytest.raises(CheckpointError, match=r"unexpected 1 key\(s\), e\.g\. 'weight' \(shape \[725, 128\]"):
        load_weights_file(tmp_path / "head.pth.tar")
    less = {k: v for k, v in sd.items() if k != "module.group3.conv_a.filter.bias"}
    torch.save({"state_dict": less}, tmp_path / "missing.pth.tar")
    with pytest.raises(CheckpointError, match=r"missing 1 key\(s\), e\.g\. 'group3\.conv_a\.filter\.bias' "
                                              r"\(shape \[384\]"):
        load_weights_file(tmp_path / "missing.pth.tar")
    with pytest.raises(CheckpointError, match=r"does not match backbone IResNet: missing .*\(backbone iresnet18"):
        load_weights_file(tmp_path / "shape.pth.tar", backbone="iresnet18")


class _Payload:
    """Unpickling this would create a file: a checkpoint must never get that far."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_loading_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    sd = {f"module.{k}": v for k, v in LightCNN29(width=0.125).state_dict().items()}
    torch.save({"epoch": 1, "state_dict": sd, "extra": _Payload(marker)}, tmp_path / "evil.pth.tar")
    with pytest.raises(CheckpointError, match=r"refused: .*\(e\.g\. io\.open\).*weights_only=True"):
        load_embedding_model(tmp_path / "evil.pth.tar")
    assert not marker.exists()


def test_infer_backbone_and_errors(tmp_path):
    sd = LightCNN29(width=0.125).state_dict()
    assert infer_backbone(sd) == ("lightcnn29", {"in_channels": 1, "width": 0.125, "embedding_size": 256})
    from nirvis.train.backbones import build_backbone

    assert infer_backbone(build_backbone("iresnet18", 3).state_dict())[0] == "iresnet18"
    assert infer_backbone(build_backbone("mobilefacenet", 1, width=0.25).state_dict()) == \
        ("mobilefacenet", {"in_channels": 1, "width": 0.25, "embedding_size": 128})
    with pytest.raises(CheckpointError, match="cannot tell the backbone.*--backbone"):
        infer_backbone({"a.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="no such file or directory"):
        load_embedding_model(tmp_path / "absent.pth.tar")
    (tmp_path / "run").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint found.*weights file"):
        load_embedding_model(tmp_path / "run")
    from safetensors.torch import save_file

    save_file({f"module.{k}": v.contiguous() for k, v in sd.items()}, str(tmp_path / "plain.safetensors"))
    info = load_embedding_model(tmp_path / "plain.safetensors").info
    assert (info["format"], info["backbone"], info["ignored"]) == ("weights file", "lightcnn29", [])
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read as a torch checkpoint"):
        load_embedding_model(tmp_path / "junk.pth")


def test_trainer_checkpoints_still_load(tmp_path):
    from train_helpers import tiny_config

    from nirvis.train.checkpoint import build_model, save_checkpoint
    from nirvis.train.config import dump_yaml

    cfg = tiny_config()
    torch.manual_seed(0)
    backbone, head = build_model(cfg, num_classes=5)
    step_dir = save_checkpoint(tmp_path / "run", 3, backbone, head, {}, dump_yaml(cfg))
    backbone.eval()
    x = torch.rand(2, cfg.model.in_channels, 112, 112)
    for where in (tmp_path / "run", step_dir, step_dir / "model.safetensors"):
        model_fn = load_embedding_model(where)
        assert model_fn.info["format"] == "nirvis run" and model_fn.info["backbone"] == cfg.model.backbone
        with torch.no_grad():
            want = backbone((x - cfg.data.mean) / cfg.data.std)
        torch.testing.assert_close(model_fn(x), want)
    with pytest.raises(CheckpointError, match="this run trained 'mobilefacenet'"):
        load_embedding_model(tmp_path / "run", backbone="lightcnn29")
