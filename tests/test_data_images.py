"""The one image reader (orientation, bit depths, palettes, alpha, limits, errors) and the one resize."""
import struct
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data import images as I
from cnnkit.data.images import ImageError, list_images, load_image, load_images, resize


def torch_resize(x, size, antialias):
    """PyTorch's bilinear resize (half-pixel centres) of a (N, H, W, C) batch."""
    t = torch.tensor(x).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out.permute(0, 2, 3, 1).numpy()


def smooth_picture(H, W, seed=0):
    """A smooth uint8 RGB picture: coarse noise enlarged."""
    coarse = np.random.default_rng(seed).random((12, 15, 3))
    return np.rint(resize(coarse, (H, W)) * 255).astype(np.uint8)


def png_header_only(path, width, height):
    """A PNG that declares width x height grey pixels but holds one row of data (nothing is decoded to open it)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
                     + chunk(b"IEND", b""))
    return path


# --- resize ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(5, 7), (3, 60), (1, 1), (17, 9)])
def test_shrinking_is_torch_bilinear_with_antialiasing(size):
    x = np.random.default_rng(0).random((2, 17, 23, 3))
    np.testing.assert_allclose(resize(x, size), torch_resize(x, size, antialias=True), atol=1e-12)


def test_enlarging_is_plain_bilinear_with_half_pixel_centres():
    x = np.random.default_rng(1).random((2, 7, 5, 3))
    np.testing.assert_allclose(resize(x, (40, 50)), torch_resize(x, (40, 50), antialias=False), atol=1e-12)
    up = resize(np.array([[0.0, 1.0], [2.0, 3.0]]), (4, 4))
    np.testing.assert_allclose(up[0], [0, 0.25, 0.75, 1])
    np.testing.assert_allclose(up[:, 0], [0, 0.5, 1.5, 2])


def test_area_averages_the_covered_pixels_weighted_by_the_covered_fraction():
    row = np.array([[1.0, 4.0, 7.0]])                                       # 3 -> 2: each output covers 1.5
    np.testing.assert_allclose(resize(row, (1, 2), method="area")[0], [(1 + 0.5 * 4) / 1.5, (0.5 * 4 + 7) / 1.5])
    block = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(resize(block, 2, method="area"), block.reshape(2, 2, 2, 2).mean(axis=(1, 3)))


def test_resize_stays_within_the_input_range():
    x = np.random.default_rng(2).random((31, 29, 3))
    for size in [(7, 5), (64, 70)]:
        for method in ("bilinear", "area"):
            out = resize(x, size, method=method)
            assert x.min() <= out.min() and out.max() <= x.max()


def test_resize_keeps_layout_and_float_dtype():
    assert resize(np.zeros((30, 60, 3), np.float32), longer_side=20).shape == (10, 20, 3)
    assert resize(np.zeros((9, 7)), (4, 5)).shape == (4, 5)
    assert resize(np.zeros((2, 9, 7, 1), np.float32), 3).dtype == np.float32
    assert resize(np.zeros((9, 7, 3)), 3).dtype == np.float64
    np.testing.assert_array_equal(resize(np.full((4, 4, 3), 255, np.uint8), 2), np.ones((2, 2, 3), np.float32))


def test_resize_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="method"):
        resize(np.zeros((4, 4)), 2, method="lanczos")
    with pytest.raises(ValueError, match="at most one"):
        resize(np.zeros((4, 4)), (2, 2), longer_side=2)
    with pytest.raises(ValueError, match="size"):
        resize(np.zeros((4, 4)), (0, 2))


# --- reading: formats -----------------------------------------------------------------------------------------

def test_png_round_trip_in_float_and_uint8(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    np.testing.assert_array_equal(load_image(tmp_path / "x.png", dtype=np.uint8), image)
    out = load_image(tmp_path / "x.png")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, image / 255, atol=1e-7)


def test_gray_mode_is_the_luma_and_grey_files_read_as_rgb(tmp_path):
    Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)).save(tmp_path / "c.png")
    np.testing.assert_allclose(load_image(tmp_path / "c.png", mode="gray")[0, :, 0], [0.299, 0.114], atol=1e-6)
    Image.fromarray(np.array([[0, 51]], np.uint8)).save(tmp_path / "g.png")
    np.testing.assert_allclose(load_image(tmp_path / "g.png")[0, 1], [0.2, 0.2, 0.2], atol=1e-7)


def test_16_bit_grey_is_scaled_not_saturated(tmp_path):
    pixels = np.array([[0, 256, 32768, 65535]], np.uint16)
    Image.fromarray(pixels).save(tmp_path / "g16.png")
    np.testing.assert_allclose(load_image(tmp_path / "g16.png", mode="gray", dtype=np.float64)[..., 0],
                               pixels / 65535, atol=1e-12)


def test_16_bit_pgm_is_scaled_by_its_maxval(tmp_path):
    values = np.array([[0, 500, 1000]], ">u2")
    (tmp_path / "m.pgm").write_bytes(b"P5\n3 1\n1000\n" + values.tobytes())
    np.testing.assert_allclose(load_image(tmp_path / "m.pgm", mode="gray")[0, :, 0], [0, 0.5, 1], atol=1e-4)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 0, 102]]], np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_allclose(load_image(tmp_path / "a.png")[0], [[1, 0, 0], [1, 1, 1], [0.6, 0.6, 0.6]], atol=1e-6)


def test_palette_transparency_is_composited_on_white(tmp_path):
    picture = Image.new("P", (2, 1))
    picture.putpalette([0, 0, 255, 10, 200, 30] + [0] * 762)
    picture.putdata([0, 1])
    picture.save(tmp_path / "p.png", transparency=0)
    np.testing.assert_array_equal(load_image(tmp_path / "p.png", dtype=np.uint8)[0], [[255, 255, 255], [10, 200, 30]])


def test_cmyk_jpeg_reads_as_rgb(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    np.testing.assert_allclose(load_image(tmp_path / "c.jpg", dtype=np.uint8)[4, 4], [255, 0, 0], atol=2)


def test_exif_orientation_is_applied_before_resizing(tmp_path):
    stored = np.zeros((10, 20, 3), np.uint8)
    stored[:3, :3] = 255                                                  # a white corner, top left as stored
    picture = Image.fromarray(stored)
    exif = picture.getexif()
    exif[0x0112] = 6                                                      # "rotate 90 degrees clockwise to view"
    picture.save(tmp_path / "o.jpg", exif=exif, quality=100)
    upright = load_image(tmp_path / "o.jpg")
    assert upright.shape == (20, 10, 3) and upright[0, -1].min() > 0.9 and upright[-1, 0].max() < 0.1
    assert load_image(tmp_path / "o.jpg", size=(8, 4)).shape == (8, 4, 3)
    assert load_image(tmp_path / "o.jpg", longer_side=10).shape == (10, 5, 3)


# --- reading: errors and limits -------------------------------------------------------------------------------

def test_a_non_image_raises_an_image_error_naming_the_file(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ImageError, match="notes.png") as info:
        load_image(tmp_path / "notes.png")
    assert isinstance(info.value, ValueError) and info.value.path == str(tmp_path / "notes.png")


def test_a_truncated_file_raises_an_image_error_naming_the_file(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(ImageError, match="t.png.*truncated"):
        load_image(tmp_path / "t.png")


def test_a_missing_file_raises_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="nowhere.png: no such file"):
        load_image(tmp_path / "nowhere.png")


def test_files_over_the_pixel_limit_are_refused_before_decoding(tmp_path):
    path = png_header_only(tmp_path / "wide.png", 5000, 4000)             # 20 megapixels declared
    with pytest.raises(ImageError, match=r"wide.png.*20,000,000 pixels.*CNNKIT_MAX_IMAGE_PIXELS"):
        load_image(path, max_pixels=10_000_000)


def test_the_pixel_limit_comes_from_the_environment(tmp_path, monkeypatch):
    path = png_header_only(tmp_path / "wide.png", 5000, 4000)
    monkeypatch.setenv(I.MAX_PIXELS_ENV, "1000")
    with pytest.raises(ImageError, match="over the limit of 1,000"):
        load_image(path)
    monkeypatch.setenv(I.MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=I.MAX_PIXELS_ENV):
        load_image(path)


def test_pillows_decompression_bomb_error_becomes_an_image_error(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 20000, 10000)           # over twice Pillow's limit
    with pytest.raises(ImageError, match=r"bomb.png.*decompression bomb"):
        load_image(path)


def test_our_limit_replaces_pillows_warning_and_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)                 # Pillow warns over 1000, fails over 2000
    Image.fromarray(np.zeros((30, 50), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((100, 50), np.uint8)).save(tmp_path / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(tmp_path / "a.png").shape == (30, 50, 3)
        assert load_image(tmp_path / "b.png", max_pixels=10_000).shape == (100, 50, 3)
    with pytest.raises(ImageError, match="b.png.*over the limit of 1,500"):
        load_image(tmp_path / "b.png", max_pixels=1500)
    assert Image.MAX_IMAGE_PIXELS == 1000                                 # Pillow's global is left as it was


# --- reading at reduced size ----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_small_read_of_a_large_file_matches_resizing_the_full_read(tmp_path, suffix):
    path = tmp_path / f"big{suffix}"
    Image.fromarray(smooth_picture(1203, 1511)).save(path, quality=95)
    full = load_image(path)
    for size in [(64, 64), (100, 37), (300, 300)]:
        # the reduced decode box-averages first: a sub-percent difference from resizing the full image
        assert np.abs(load_image(path, size) - resize(full, size)).max() < 0.02


def test_a_small_read_of_a_large_png_makes_no_full_size_float_copy(tmp_path):
    ramp = np.add.outer(np.arange(4000), np.arange(4000)) // 32
    Image.fromarray(ramp.astype(np.uint8)).save(tmp_path / "big.png")
    tracemalloc.start()
    try:
        image = load_image(tmp_path / "big.png", longer_side=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert image.shape == (64, 64, 3)
    assert peak < 4_000_000                                               # a float copy would take 128 MB


def test_a_small_read_of_a_large_jpeg_decodes_at_an_eighth(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin
    Image.fromarray(smooth_picture(2400, 3200)).save(tmp_path / "big.jpg")
    decoded, load = [], JpegImagePlugin.JpegImageFile.load

    def spy(self):
        decoded.append(self.size)
        return load(self)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    load_image(tmp_path / "big.jpg", size=64)
    assert decoded[0] == (400, 300)


# --- folders and other APIs -----------------------------------------------------------------------------------

def test_list_images_keeps_image_files_sorted(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert list_images(tmp_path) == [str(tmp_path / "a.JPG"), str(tmp_path / "b.png")]


def test_a_folder_read_names_the_bad_file(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match="b.png"):
        load_images(str(tmp_path))


def test_stacking_a_folder_needs_one_shape_and_names_the_odd_file(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ImageError, match=r"b.png.*size=\(H, W\)"):
        load_images(str(tmp_path), stack=True)
    assert load_images(str(tmp_path), 3, stack=True).shape == (2, 3, 3, 3)


def test_detect_faces_accepts_what_load_image_returns(tmp_path):
    from cnnkit.face.mtcnn import MTCNN, detect_faces
    pixels = np.random.default_rng(5).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    detector = MTCNN(rng=6).eval()
    faces = detect_faces(load_image(tmp_path / "x.png"), thresholds=(0, 0, 0), detector=detector)
    want = detect_faces(pixels, thresholds=(0, 0, 0), detector=detector)
    assert len(faces) == len(want) > 0
    assert [f["box"] for f in faces] == [f["box"] for f in want]


def test_float_pixels_outside_0_1_are_refused_where_uint8_is_expected():
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        I.as_uint8_image(np.full((2, 2, 3), 200.0))


def test_to_gray_of_an_array_is_the_grey_load_image_reads(tmp_path):
    picture = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "p.png")
    grey = load_image(tmp_path / "p.png", mode="gray")
    np.testing.assert_array_equal(I.to_gray(load_image(tmp_path / "p.png")), grey)


def test_16_bit_grey_png_reads_as_its_8_bit_twin(tmp_path):
    eight = np.arange(0, 256, 17, dtype=np.uint8).reshape(4, 4)
    Image.fromarray(eight).save(tmp_path / "g8.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # 255 -> 65535
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    np.testing.assert_allclose(load_image(tmp_path / "g16.png"), load_image(tmp_path / "g8.png"), atol=1e-6)
