"""Pictures people can read: titles, labels, natural order, stable colours, scaled edges (text, not pixels)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnkit.filters import normalize_edges
from cnnkit.utils import natural_sorted
from cnnkit.viz.boxes import PALETTE, colour_for, draw_detections, label_font_size
from cnnkit.viz.curves import confusion_figure, history_figure, plot_confusion, top_confusions
from cnnkit.viz.images import save_image, with_title


def _texts(figure):
    """Every text drawn on a matplotlib figure: titles, tick labels, axis labels, free text."""
    from matplotlib.text import Text
    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def test_natural_sort_orders_numbers_by_value():
    assert natural_sorted(["s10", "s2", "s1", "s11", "s9"]) == ["s1", "s2", "s9", "s10", "s11"]
    assert natural_sorted(["img10.png", "img9.png", "Img1.png"]) == ["Img1.png", "img9.png", "img10.png"]


def test_natural_sort_keeps_distinct_names_apart():
    assert natural_sorted(["a01", "a1"]) in (["a01", "a1"], ["a1", "a01"])
    assert len(set(natural_sorted(["a01", "a1", "a001"]))) == 3


def test_confusion_matrix_orders_classes_naturally():
    names = ["s1", "s10", "s2"]  # the plain string order a folder used to give
    figure = confusion_figure(np.diag([3, 4, 5]), names)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["s1", "s2", "s10"]
    # the rows move with their names: s10's 4 correct images are now in the last row
    assert ax.images[0].get_array()[2, 2] == 1 and "4" in _texts(figure)


def test_confusion_matrix_has_a_title_axis_labels_and_a_labelled_colour_bar():
    figure = confusion_figure(np.array([[8, 2], [0, 10]]), ["cat", "dog"], title="lenet5 on pets")
    texts = _texts(figure)
    assert any(t.startswith("lenet5 on pets: 2 classes, 20 images, accuracy 90.0%") for t in texts)
    assert "true class" in texts and "predicted class" in texts
    assert "fraction of the true class predicted as each class" in texts


def test_confusion_matrix_is_row_normalised():
    figure = confusion_figure(np.array([[90, 10], [1, 1]]), ["a", "b"])
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), [[0.9, 0.1], [0.5, 0.5]])


def test_top_confusions_list_the_largest_off_diagonal_cells():
    confusion = np.array([[5, 3, 0], [1, 7, 0], [0, 6, 2]])
    assert top_confusions(confusion, ["a", "b", "c"], k=2) == [("c", "b", 6, 0.75), ("a", "b", 3, 0.375)]
    assert top_confusions(np.eye(3, dtype=int), k=5) == []


def test_confusion_figure_lists_the_top_confusions_beside_the_matrix():
    confusion = np.array([[5, 3, 0], [1, 7, 0], [0, 6, 2]])
    text = "\n".join(_texts(confusion_figure(confusion, ["a", "b", "c"], top_k=2)))
    assert "c → b: 6 (75%)" in text and "a → b: 3 (38%)" in text and "b → a" not in text


def test_confusion_ticks_of_40_classes_stay_readable_and_of_200_thin_out():
    names = [f"s{i}" for i in range(1, 41)]
    ax = confusion_figure(np.eye(40, dtype=int) * 3, names).axes[0]
    labels = ax.get_xticklabels()
    assert len(labels) == 40 and min(label.get_fontsize() for label in labels) >= 6
    ax = confusion_figure(np.eye(200, dtype=int), [f"c{i}" for i in range(200)]).axes[0]
    assert 0 < len(ax.get_xticklabels()) < 200


def test_plot_confusion_writes_a_png(tmp_path):
    plot_confusion(np.eye(3, dtype=int), tmp_path / "c.png")
    assert Image.open(tmp_path / "c.png").format == "PNG"


def test_history_figure_titles_the_run_and_labels_each_panel():
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "accuracy": [0.5, 0.8], "epochs": [1, 2]}
    texts = _texts(history_figure(history, title="lenet5 on digits: Adam lr 0.002"))
    assert "lenet5 on digits: Adam lr 0.002" in texts
    assert texts.count("epoch") == 2 and "accuracy" in texts and "loss per epoch" in texts


def test_history_figure_without_a_title_says_what_it_is():
    assert "training curves" in _texts(history_figure({"loss": [1.0]}))


def test_a_class_keeps_its_colour_and_an_identity_its_colour_across_runs():
    assert colour_for(3) == PALETTE[3] and colour_for(3 + len(PALETTE)) == PALETTE[3]
    # another process with another string-hash seed gives the name the same colour
    code = "from cnnkit.viz.boxes import colour_for; print(colour_for('obama'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == str(colour_for("obama"))


def test_boxes_of_one_class_share_a_colour_and_other_classes_differ():
    image = np.zeros((100, 200, 3), np.uint8)
    boxes = [[10, 40, 50, 90], [60, 40, 100, 90], [120, 40, 160, 90]]
    drawn = draw_detections(image, boxes, [0.9, 0.8, 0.7], [1, 1, 2], ["a", "b", "c"])
    left_edges = [tuple(drawn[70, x]) for x in (10, 60, 120)]
    assert left_edges == [PALETTE[1], PALETTE[1], PALETTE[2]]


def test_identities_are_coloured_by_name():
    image = np.zeros((100, 200, 3), np.uint8)
    drawn = draw_detections(image, [[10, 40, 50, 90]], [0.9], [0], ["rose"], colour_by="name")
    assert tuple(drawn[70, 10]) == colour_for("rose")


def test_labels_and_strokes_grow_with_the_picture():
    assert label_font_size(1000, 1200) == 25 and label_font_size(100, 100) == 11
    small = draw_detections(np.zeros((100, 100, 3), np.uint8), [[10, 30, 90, 90]], [0.5], [0])
    large = draw_detections(np.zeros((1000, 1000, 3), np.uint8), [[100, 300, 900, 900]], [0.5], [0])
    stroke = lambda picture, y, x0: int((picture[y, x0:x0 + 20] == PALETTE[0]).all(-1).sum())  # noqa: E731
    assert stroke(large, 600, 100) > stroke(small, 60, 10)


def test_with_title_adds_a_band_above_the_picture():
    picture = with_title(np.zeros((50, 400)), "what this shows")
    assert picture.shape[1:] == (400, 3) and picture.shape[0] > 60
    np.testing.assert_array_equal(picture[-50:], 0)
    assert picture[:-50].min() < 0.5  # text was drawn


def test_save_image_stores_the_title_in_the_png(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((4, 4)), title="sobel edges of a.png")
    assert Image.open(tmp_path / "a.png").text["Title"] == "sobel edges of a.png"


def test_save_image_names_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="a.xyz"):
        save_image(tmp_path / "a.xyz", np.zeros((4, 4)))


def test_edges_are_scaled_by_a_percentile_so_weak_edges_show():
    edges = np.full((20, 20), 0.1, np.float32)
    edges[0, 0] = 100.0  # one very strong edge would leave the rest black under max scaling
    scaled, divisor = normalize_edges(edges, 99)
    assert divisor == pytest.approx(0.1) and scaled[5, 5] == pytest.approx(1.0) and scaled[0, 0] == 1.0
    assert normalize_edges(edges, 100)[1] == 100.0


def test_edges_of_a_blank_picture_stay_black():
    scaled, divisor = normalize_edges(np.zeros((4, 4)))
    assert divisor == 1.0 and scaled.max() == 0
