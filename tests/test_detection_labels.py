"""YOLO label files and YOLO-format folders."""
import numpy as np
import pytest
from PIL import Image

from cnnkit.detection.labels import YoloFolder, read_yolo_labels, write_yolo_labels


def test_labels_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 10, 7)
    boxes = rng.random((7, 4)).astype(np.float32)
    write_yolo_labels(tmp_path / "a.txt", classes, boxes)
    got_classes, got_boxes = read_yolo_labels(tmp_path / "a.txt")
    np.testing.assert_array_equal(got_classes, classes)
    np.testing.assert_array_equal(got_boxes, boxes)
    assert got_classes.dtype == np.int64 and got_boxes.dtype == np.float32


def test_labels_file_has_one_line_per_object(tmp_path):
    write_yolo_labels(tmp_path / "a.txt", [3, 0], [[0.5, 0.25, 0.1, 0.2], [1, 1, 1, 1]])
    assert (tmp_path / "a.txt").read_text() == "3 0.5 0.25 0.1 0.2\n0 1 1 1 1\n"


def test_empty_label_file_gives_no_objects(tmp_path):
    (tmp_path / "a.txt").write_text("\n")
    classes, boxes = read_yolo_labels(tmp_path / "a.txt")
    assert classes.shape == (0,) and boxes.shape == (0, 4)


def test_write_leaves_no_temporary_file(tmp_path):
    write_yolo_labels(tmp_path / "a.txt", [1], [[0.5, 0.5, 0.2, 0.2]])
    write_yolo_labels(tmp_path / "a.txt", [2], [[0.5, 0.5, 0.3, 0.3]])
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert read_yolo_labels(tmp_path / "a.txt")[0].tolist() == [2]


def test_write_rejects_unnormalised_boxes_and_keeps_the_old_file(tmp_path):
    write_yolo_labels(tmp_path / "a.txt", [1], [[0.5, 0.5, 0.2, 0.2]])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        write_yolo_labels(tmp_path / "a.txt", [1, 2], [[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 1.5, 0.2]])
    assert read_yolo_labels(tmp_path / "a.txt")[0].tolist() == [1]


@pytest.mark.parametrize("line, problem", [
    ("0 0.5 0.5 0.2", "expected 5 fields"),
    ("a 0.5 0.5 0.2 0.2", "non-negative integer"),
    ("-1 0.5 0.5 0.2 0.2", "non-negative integer"),
    ("1 0.5 x 0.2 0.2", "must be numbers"),
    ("1 0.5 1.2 0.2 0.2", r"in \[0, 1\]"),
    ("1 0.5 nan 0.2 0.2", r"in \[0, 1\]"),
])
def test_malformed_line_names_file_and_line_number(tmp_path, line, problem):
    path = tmp_path / "bad.txt"
    path.write_text(f"0 0.5 0.5 0.1 0.1\n\n{line}\n")
    with pytest.raises(ValueError, match=f"bad.txt, line 3: .*{problem}"):
        read_yolo_labels(path)


def test_yolo_folder_gives_pixels_and_corner_boxes(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[10:30, 20:60] = 255
    Image.fromarray(pixels).save(tmp_path / "images" / "b.png")
    Image.fromarray(pixels).save(tmp_path / "images" / "a.png")
    write_yolo_labels(tmp_path / "labels" / "b.txt", [4], [[0.5, 0.5, 0.5, 0.5]])
    dataset = YoloFolder(tmp_path)
    assert len(dataset) == 2
    image, boxes, classes = dataset[1]
    assert image.shape == (40, 80, 3) and image.dtype == np.float32 and image.max() == 1.0
    np.testing.assert_allclose(boxes, [[20, 10, 60, 30]])
    assert classes.tolist() == [4]


def test_yolo_folder_image_without_label_file_has_no_objects(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "images" / "a.png")
    _, boxes, classes = YoloFolder(tmp_path)[0]
    assert boxes.shape == (0, 4) and classes.shape == (0,)


def test_yolo_folder_needs_an_images_folder(tmp_path):
    with pytest.raises(ValueError, match="no images/ folder"):
        YoloFolder(tmp_path)


def _folder(tmp_path, label, classes=None):
    """A YOLO folder of one 8x8 image with the label text ``label`` (and classes.txt when given)."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "labels" / "a.txt").write_text(label)
    if classes is not None:
        (tmp_path / "classes.txt").write_text("\n".join(classes) + "\n")
    return YoloFolder(tmp_path)


def test_class_beyond_classes_txt_names_the_file_and_line(tmp_path):
    folder = _folder(tmp_path, "0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.1 0.1\n", classes=["cat", "dog"])
    assert folder.class_names == ["cat", "dog"]
    with pytest.raises(ValueError, match=r"a\.txt, line 2: class 2 is not below the 2 classes"):
        folder[0]


def test_huge_class_without_classes_txt_is_refused_before_anything_is_sized(tmp_path):
    folder = _folder(tmp_path, "999999999 0.5 0.5 0.1 0.1\n")
    with pytest.raises(ValueError, match=r"a\.txt, line 1: class 999999999 is not below the 1000 classes allowed "
                                         r"without a classes\.txt"):
        folder[0]


def test_class_of_ten_thousand_digits_is_refused_quickly(tmp_path):
    (tmp_path / "a.txt").write_text("9" * 10000 + " 0.5 0.5 0.1 0.1\n")
    with pytest.raises(ValueError, match=r"a\.txt, line 1: class 9{20} is not below"):
        read_yolo_labels(tmp_path / "a.txt", num_classes=3)


def test_label_file_that_is_not_utf8_names_the_file(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"0 0.5 0.5 0.1 0.1\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"a\.txt: not UTF-8 text"):
        read_yolo_labels(tmp_path / "a.txt")
