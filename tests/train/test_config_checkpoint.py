import pytest
import torch

from nirvis.train.backbones import build_backbone
from nirvis.train.backbones.lightcnn import LightCNN29
from nirvis.train.checkpoint import CheckpointError, load_pretrained
from nirvis.train.config import TrainConfigError, load_config, parse_override

from train_helpers import ROOT

CFG = ROOT / "configs" / "train"


@pytest.mark.parametrize("name", ["lightcnn_idmmd", "iresnet50", "tiny"])
def test_shipped_configs_load(name):
    cfg = load_config(CFG / f"{name}.yaml")
    assert cfg.optim.momentum == 0.9


def test_reference_recipe_values():
    cfg = load_config(CFG / "lightcnn_idmmd.yaml")
    assert (cfg.model.backbone, cfg.head.s, cfg.head.m, cfg.loss.idmmd_weight) == ("lightcnn29", 64.0, 0.4, 100.0)
    assert (cfg.data.identities_per_batch, cfg.data.vis_per_identity, cfg.data.nir_per_identity) == (16, 4, 4)
    want = (5e-3, 2e-4, 0.457305051927326, 1000)
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.lr_gamma, cfg.run.seed) == want


@pytest.mark.parametrize("override,match", [
    ({"optim.lrr": 1}, "unknown key 'optim.lrr'"),
    ({"optim.lr": -1}, "field 'optim.lr' must be > 0"),
    ({"model.backbone": "vgg"}, "field 'model.backbone' must be one of"),
    ({"run.amp": "yes"}, "field 'run.amp' must be bool"),
    ({"bogus": 1}, "unknown key 'bogus'"),
])
def test_config_errors_name_the_field(override, match):
    with pytest.raises(TrainConfigError, match=match):
        load_config(CFG / "tiny.yaml", override)


def test_a_config_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "t.yaml").write_bytes("optim: {lr: 0.1}  # r\xe9sum\xe9\n".encode("latin-1"))
    with pytest.raises(TrainConfigError, match=r"t\.yaml: not UTF-8 text"):
        load_config(tmp_path / "t.yaml")


def test_parse_override():
    assert parse_override("optim.lr=0.01") == ("optim.lr", 0.01)
    with pytest.raises(TrainConfigError):
        parse_override("optim.lr")


def test_lightcnn_shapes_and_pth_tar_roundtrip(tmp_path):
    m = LightCNN29(width=0.125)
    assert m(torch.rand(2, 1, 112, 112)).shape == (2, 256)
    assert LightCNN29().fc.filter.weight.shape == (512, 6272)
    sd = {f"module.{k}": v for k, v in m.state_dict().items()}
    sd["module.fc2.weight"] = torch.zeros(10, 256)  # the released classifier: dropped
    torch.save({"epoch": 3, "arch": "LightCNN-29", "state_dict": sd}, tmp_path / "lcnn.pth.tar")
    other = LightCNN29(width=0.125)
    info = load_pretrained(other, tmp_path / "lcnn.pth.tar")
    assert info["dropped"] == ["fc2.weight"]
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), other.state_dict().values()))


def test_lightcnn_128_checkpoint_is_rejected_with_reason(tmp_path):
    sd = {f"module.{k}": v for k, v in LightCNN29(width=0.125, input_size=128).state_dict().items()}
    torch.save({"state_dict": sd}, tmp_path / "v2.pth.tar")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(LightCNN29(width=0.125), tmp_path / "v2.pth.tar")
    msg = str(err.value)
    assert "fc.filter.weight" in msg and "[512, 1024]" in msg and "[512, 784]" in msg
    assert "checkpoint is for 128x128 input" in msg


def test_full_size_lightcnn_128_message(tmp_path):
    m = LightCNN29()
    sd = {f"module.{k}": v for k, v in m.state_dict().items()}
    sd["module.fc.filter.weight"] = torch.zeros(512, 8192)
    torch.save({"state_dict": sd}, tmp_path / "v2.pth.tar")
    with pytest.raises(CheckpointError, match=r"\[512, 8192\].*\[512, 6272\].*checkpoint is for 128x128 input"):
        load_pretrained(m, tmp_path / "v2.pth.tar")


def test_arcface_torch_backbone_roundtrip_and_grey_conv1(tmp_path):
    src = build_backbone("iresnet18", 3)
    names = list(src.state_dict())
    for want in ("conv1.weight", "bn1.weight", "prelu.weight", "layer1.0.bn1.weight", "layer1.0.conv1.weight",
                 "layer1.0.bn2.weight", "layer1.0.prelu.weight", "layer1.0.conv2.weight", "layer1.0.bn3.weight",
                 "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight", "bn2.weight", "fc.weight",
                 "features.weight", "features.running_mean"):
        assert want in names, want
    torch.save(src.state_dict(), tmp_path / "backbone.pth")
    rgb = build_backbone("iresnet18", 3)
    load_pretrained(rgb, tmp_path / "backbone.pth")
    assert torch.equal(rgb.fc.weight, src.fc.weight)
    grey = build_backbone("iresnet18", 1).eval()
    load_pretrained(grey, tmp_path / "backbone.pth")
    x = torch.rand(1, 1, 112, 112)
    src.eval()
    with torch.no_grad():
        a, b = grey(x), src(x.repeat(1, 3, 1, 1))
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
    with pytest.raises(CheckpointError, match="missing"):
        load_pretrained(LightCNN29(width=0.125), tmp_path / "backbone.pth")
