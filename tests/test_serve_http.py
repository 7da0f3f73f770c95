"""``cnnkit serve`` over HTTP with Starlette's test client: every endpoint, the limits, bad input, the job queue."""
import io
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
from starlette.testclient import TestClient  # noqa: E402

from cnnkit.serve import create_app  # noqa: E402


def png_bytes(image):
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def stripes(h=20, w=24):
    """A grey picture lighter on the left half: one vertical edge."""
    image = np.zeros((h, w), np.uint8)
    image[:, : w // 2] = 200
    return image


@pytest.fixture
def client(tmp_path):
    client = TestClient(create_app(str(tmp_path / "runs"), max_upload_bytes=200_000, max_pixels=100_000))
    client.app_state = {"project": str(tmp_path / "runs")}
    return client


def wait_job(client, job_id, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_index_and_meta_list_the_samples_kernels_and_zoo(client):
    assert "cnnkit playground" in client.get("/").text
    meta = client.get("/api/meta").json()
    assert "astronaut" in meta["samples"] and "sobel" in meta["kernels"]
    assert {"id": "zoo:lenet5", "label": "lenet5 (untrained, input 32x32x1)"} in meta["models"]["zoo"]
    assert client.get("/api/samples/astronaut").headers["content-type"] == "image/png"


def test_conv_output_is_our_conv2d_with_the_formula_filled_in(client):
    r = client.post("/api/conv", data={"kernel": "vertical", "padding": "1", "stride": "2", "size": "24"},
                    files={"image": ("../../etc/passwd", png_bytes(stripes()), "image/png")})
    d = r.json()
    assert r.status_code == 200, d
    x = np.asarray(d["input"]["values"], np.float32)
    assert x.shape == (20, 24)
    padded = np.pad(x, 1)
    k = np.asarray(d["kernel"], np.float32)
    out = np.asarray(d["output"]["values"])
    assert out.shape == (10, 12)
    i, j = 4, 5   # the dot product the page shows for one output pixel
    np.testing.assert_allclose(out[i, j], (padded[2 * i:2 * i + 3, 2 * j:2 * j + 3] * k).sum(), rtol=1e-5, atol=1e-6)
    assert d["formulas"][0]["text"] == "H_out = ⌊(20 + 2·1 − 3) / 2⌋ + 1 = 10"


def test_conv_same_padding_and_max_pooling_give_the_sizes(client):
    d = client.post("/api/conv", data={"image_sample": "coffee", "kernel": "scharr", "padding": "same", "stride": "1",
                                       "pool": "max", "size": "30"}).json()
    H, W = d["input"]["h"], d["input"]["w"]
    assert (d["output"]["h"], d["output"]["w"]) == (H, W)
    assert (d["pooled"]["h"], d["pooled"]["w"]) == (H // 2, W // 2)
    assert d["pad"] == {"top": 1, "bottom": 1, "left": 1, "right": 1}


def test_conv_custom_kernel_is_used(client):
    d = client.post("/api/conv", data={"image_sample": "coffee", "kernel": "custom", "size": "16",
                                       "kernel_values": "0 0 0, 0 1 0, 0 0 0"}).json()
    np.testing.assert_allclose(d["output"]["values"], np.asarray(d["input"]["values"])[1:-1, 1:-1], atol=1e-6)


@pytest.mark.parametrize("fields, message", [
    ({"kernel": "custom", "kernel_values": "1 2 3"}, "kernel_values must be 9 finite numbers"),
    ({"kernel": "laplace"}, "kernel must be one of"),
    ({"padding": "wide"}, "padding must be an integer"),
    ({"stride": "9"}, "stride must be between 1 and 4"),
    ({"pool": "median"}, "pool must be none, max or avg"),
    ({"image_sample": "nobody"}, "unknown sample 'nobody'"),
    ({"image_sample": ""}, "upload a picture or choose a sample"),
])
def test_conv_bad_input_is_one_json_error(client, fields, message):
    r = client.post("/api/conv", data={"image_sample": "coffee", **fields})
    assert r.status_code == 400 and message in r.json()["error"]


def test_an_upload_that_is_not_an_image_is_refused_without_its_name(client):
    r = client.post("/api/conv", files={"image": ("../../etc/evil.png", b"not a picture", "image/png")})
    assert r.status_code == 400
    assert "the uploaded image" in r.json()["error"] and "evil" not in r.json()["error"]


def test_uploads_over_the_byte_limit_are_refused_from_content_length_and_while_streaming(client):
    r = client.post("/api/conv", files={"image": ("a.png", b"x" * 300_000, "image/png")})
    assert r.status_code == 413 and "larger than the limit" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it streams in
        for _ in range(40):
            yield b"y" * 10_000
    r = client.post("/api/conv", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_pictures_over_the_pixel_limit_are_refused(client):
    big = np.zeros((400, 400), np.uint8)   # 160,000 pixels > 100,000, a few KB as PNG
    r = client.post("/api/conv", files={"image": ("big.png", png_bytes(big), "image/png")})
    assert r.status_code == 400 and "pixel" in r.json()["error"]


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    assert client.get("/api/conv").status_code == 405 and "error" in client.get("/api/conv").json()


def test_unexpected_failures_are_a_json_500_without_traceback(client, monkeypatch):
    from cnnkit.serve import conv
    monkeypatch.setattr(conv, "parse_kernel", lambda form: 1 / 0)
    r = client.post("/api/conv", data={"image_sample": "coffee"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error: ZeroDivisionError: division by zero"}


def test_explorer_summary_lists_layers_with_params_and_macs(client):
    s = client.post("/api/explorer/summary", json={"model": "zoo:lenet5"}).json()
    assert s["rows"][0] == {"name": "features.0", "type": "Conv2d", "output_shape": [28, 28, 6], "params": 156,
                            "macs": 117600}
    assert s["total_params"] == 61706 and "features.3" in s["patch_layers"]


def test_explorer_refuses_paths_as_model_ids(client):
    r = client.post("/api/explorer/summary", json={"model": "run:../../etc"})
    assert r.status_code == 400 and "no classify checkpoint" in r.json()["error"]


def test_explorer_activations_show_every_feature_map_and_a_prediction(client):
    d = client.post("/api/explorer/activations", data={"model": "zoo:lenet5"},
                    files={"image": ("x.png", png_bytes(stripes(32, 32)), "image/png")}).json()
    maps = [layer for layer in d["layers"] if "png" in layer]
    assert [m["name"] for m in maps] == [f"features.{i}" for i in range(6)]
    assert maps[3]["shape"] == [10, 10, 16] and maps[3]["channels_shown"] == 16
    assert len(d["prediction"]) == 5 and not d["trained"]


def test_explorer_patches_are_the_top_9_of_a_unit(client):
    d = client.post("/api/explorer/patches", json={"model": "zoo:lenet5", "layer": "features.3", "unit": 2}).json()
    assert len(d["values"]) == 9 and d["values"] == sorted(d["values"], reverse=True)
    assert d["field"] == 14 and d["channels"] == 16
    r = client.post("/api/explorer/patches", json={"model": "zoo:lenet5", "layer": "features.3", "unit": 16})
    assert r.status_code == 400 and "between 0 and 15" in r.json()["error"]


def test_edges_classic_kernels(client):
    d = client.post("/api/edges", data={"image_sample": "chelsea", "kind": "sobel"}).json()
    assert d["png"].startswith("data:image/png;base64,")
    assert client.post("/api/edges", data={"image_sample": "chelsea", "kind": "canny"}).status_code == 400


def test_detect_draws_the_boxes_of_a_detection_checkpoint(tmp_path):
    from cnnkit.detection.train import save_detector
    from cnnkit.models import get_model
    model = get_model("tiny_yolo", num_classes=2, image_size=32, widths=(4, 8, 8, 8), rng=0)
    save_detector(str(tmp_path / "runs/detect/toy/weights/best.safetensors"), model,
                  np.array([[1, 1], [2, 2], [3, 3]], np.float32), ["ball", "box"])
    client = TestClient(create_app(str(tmp_path / "runs")))
    assert client.get("/api/meta").json()["models"]["detect"] == [{"id": "run:detect/toy", "label": "detect/toy"}]
    d = client.post("/api/detect", data={"model": "run:detect/toy", "image_sample": "coffee",
                                         "score_threshold": "0"}).json()
    assert d["png"].startswith("data:image/png") and d["detections"]
    assert {det["class"] for det in d["detections"]} <= {"ball", "box"}


def test_style_jobs_run_one_at_a_time_with_a_visible_queue(client, monkeypatch):
    from cnnkit.models import vgg16_features
    from cnnkit.serve import tasks
    monkeypatch.setattr(tasks, "_style_net", [vgg16_features(None, rng=0)])   # random weights: no download
    form = {"content_sample": "chelsea", "style_sample": "coffee", "size": "32", "steps": "1"}
    first = client.post("/api/style", data=form).json()
    second = client.post("/api/style", data=form).json()
    assert second["state"] == "queued" and second["position"] in (1, None)
    listing = client.get("/api/jobs?kind=style").json()["jobs"]
    assert [j["id"] for j in listing] == [second["id"], first["id"]]
    done = wait_job(client, second["id"])
    assert done["state"] == "done" and done["result"]["png"].startswith("data:image/png")
    assert wait_job(client, first["id"])["state"] == "done"
    assert done["partial"].startswith("data:image/png")   # the intermediate image the page shows


def test_job_queue_runs_a_kind_in_order_and_cancels_a_waiting_job():
    from cnnkit.serve.jobs import JobQueue
    queue, gate, order = JobQueue(), threading.Event(), []
    a = queue.submit("k", "a", lambda job: (gate.wait(10), order.append("a")))
    b = queue.submit("k", "b", lambda job: order.append("b"))
    c = queue.submit("k", "c", lambda job: order.append("c"))
    while a.state != "running":
        time.sleep(0.01)
    assert (queue.describe(b)["position"], queue.describe(c)["position"]) == (1, 2)
    queue.cancel(b.id)
    gate.set()
    deadline = time.time() + 10
    while c.state != "done" and time.time() < deadline:
        time.sleep(0.01)
    assert order == ["a", "c"] and b.state == "cancelled" and a.state == "done"


def test_a_failing_job_reports_its_error_as_one_line():
    from cnnkit.serve.jobs import JobQueue
    queue = JobQueue()
    job = queue.submit("k", "bad", lambda job: (_ for _ in ()).throw(ValueError("size: too big\nreally")))
    deadline = time.time() + 10
    while job.state != "failed" and time.time() < deadline:
        time.sleep(0.01)
    assert job.error == "size: too big; really"


def test_unknown_jobs_are_a_400(client):
    assert "no job '99'" in client.get("/api/jobs/99").json()["error"]


@pytest.mark.parametrize("body, message", [({"model": "vgg16"}, "model must be one of"),
                                           ({"epochs": 0}, "epochs must be between 1"),
                                           ({"data": "/etc"}, "data must be one of"),
                                           ({"resume": "classify/../../x"}, "resume: no run")])
def test_training_form_errors(client, body, message):
    r = client.post("/api/train", json=body)
    assert r.status_code == 400 and message in r.json()["error"]


def assert_classify_matches_the_pipeline(client, run_id):
    """The page's top-5 are cnnkit predict's probabilities of the checkpoint (ClassifyPipeline) for the same digit."""
    from cnnkit.data.images import resize
    from cnnkit.distributed.pipelines import ClassifyPipeline
    from cnnkit.serve import catalogue
    from cnnkit.serve.images import _samples
    pipeline = ClassifyPipeline(catalogue.checkpoints(client.app_state["project"], "classify")[run_id])
    H, W, _ = pipeline.preprocessing["input_shape"]
    digit = resize(_samples()["digit_3"][..., :1], (H, W))
    expected = pipeline.probabilities(digit[None])[0]
    top = client.post("/api/classify", data={"model": f"run:{run_id}", "image_sample": "digit_3"}).json()["prediction"]
    assert [t["label"] for t in top] == [pipeline.names[i] for i in np.argsort(-expected)[:5]]
    np.testing.assert_allclose([t["probability"] for t in top], np.sort(expected)[::-1][:5], atol=1e-4)


def test_training_runs_cnnkit_train_then_stops_and_resumes(client):
    started = client.post("/api/train", json={"model": "lenet5", "data": "digits", "epochs": 1, "limit": 60}).json()
    done = wait_job(client, started["id"])
    assert done["state"] == "done" and done["result"]["message"].startswith("test accuracy")
    runs = client.get("/api/train/runs").json()["runs"]
    assert [r["id"] for r in runs] == ["classify/lenet5-digits-1"]
    assert len(runs[0]["curves"]["val_accuracy"]) == 1 and runs[0]["plot"]
    assert client.get("/api/train/plot/classify/lenet5-digits-1").headers["content-type"] == "image/png"
    assert_classify_matches_the_pipeline(client, runs[0]["id"])

    # enough epochs that the run cannot end before the cancel lands (60 images take milliseconds an epoch)
    resumed = client.post("/api/train", json={"resume": "classify/lenet5-digits-1", "epochs": 200}).json()
    deadline = time.time() + 300   # a loaded machine takes long to start Python and read the data
    while not client.get(f"/api/jobs/{resumed['id']}").json()["partial"]["curves"].get("epoch", [0])[1:]:
        assert time.time() < deadline
        time.sleep(0.2)   # stop once epoch 2 is saved
    client.post(f"/api/jobs/{resumed['id']}/cancel")
    stopped = wait_job(client, resumed["id"])
    assert stopped["result"]["stopped"] and "interrupted (SIGINT)" in stopped["result"]["message"]
    epochs = client.get("/api/train/runs").json()["runs"][0]["curves"]["epoch"]
    assert epochs[:2] == [1.0, 2.0] and len(epochs) < 200


def test_cli_serve_warns_on_a_non_loopback_host(monkeypatch, capsys):
    import uvicorn

    from cnnkit.cli import main
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert calls == [{"host": "0.0.0.0", "port": 0, "log_level": "warning"}]
    assert "reachable from other machines" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 0 and calls[-1]["host"] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err


def test_explorer_lists_pretrained_zoo_models_first(client):
    zoo = [m["id"] for m in client.get("/api/meta").json()["models"]["zoo"]]
    assert zoo.index("zoo:vgg16_features:pretrained") < zoo.index("zoo:lenet5")
    r = client.post("/api/explorer/summary", json={"model": "zoo:lenet5:pretrained"})
    assert r.status_code == 400 and "unknown zoo model" in r.json()["error"]


def test_explorer_shows_no_prediction_for_a_model_with_several_outputs(client):
    d = client.post("/api/explorer/activations", data={"model": "zoo:mtcnn_onet", "image_sample": "chelsea"}).json()
    assert d["prediction"] is None and [layer for layer in d["layers"] if "png" in layer]
