"""The stylize, edges and visualize subcommands: arguments, outputs and errors (no pretrained weights needed)."""
import numpy as np

from cnnkit.cli import main
from cnnkit.data.images import load_image
from cnnkit.viz.images import save_image


def picture(tmp_path, name="in.png"):
    image = np.zeros((20, 30, 3), np.uint8)
    image[:, 15:] = 255
    save_image(tmp_path / name, image)
    return str(tmp_path / name)


def test_edges_writes_a_grey_map_of_the_picture_size(tmp_path, capsys):
    out = tmp_path / "edges.png"
    assert main(["edges", picture(tmp_path), "--kind", "sobel", "-o", str(out)]) == 0
    edges = load_image(out)
    assert edges.shape == (20, 30, 3) and edges[:, 14:16].max() == 1 and edges[:, :5].max() == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (30x20): sobel edges of in.png")


def test_edges_says_how_the_map_was_scaled_in_its_title(tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "edges.png"
    assert main(["edges", picture(tmp_path), "--kind", "scharr", "--percentile", "95", "-o", str(out)]) == 0
    assert "(its 95th percentile), clipped to 1" in Image.open(out).text["Title"]


def test_edges_rejects_a_percentile_above_100(tmp_path, capsys):
    assert main(["edges", picture(tmp_path), "--percentile", "101"]) == 1
    assert "--percentile must be in (0, 100], got 101" in capsys.readouterr().err


def test_stylize_rejects_a_tiny_size_before_loading_anything(tmp_path, capsys):
    path = picture(tmp_path)
    assert main(["stylize", path, path, "--size", "8"]) == 2
    assert "argument --size: must be at least 16, got 8" in capsys.readouterr().err


def test_visualize_needs_weights_for_a_named_model(tmp_path, capsys):
    assert main(["visualize", "lenet5", "--layer", "conv1", "--images", str(tmp_path)]) == 1
    assert "--weights is needed" in capsys.readouterr().err
