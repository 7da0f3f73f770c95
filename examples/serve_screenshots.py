"""Screenshots of the four pages of ``cnnkit serve`` for the README, taken in headless Chromium with Selenium.

Run from the repository root (needs the serve and test extras and Debian's chromium + chromium-driver):

    python examples/serve_screenshots.py [--out docs/serve] [--project runs-screenshots]

It starts the playground on a free port, trains a LeNet-5 for 8 epochs on 500 digits
(so the explorer and classify have a checkpoint), and saves conv.png, explorer.png,
tasks.png (faces) and train.png.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from serve_browser import Browser, running_server  # noqa: E402  (the browser tests' helpers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("docs", "serve"))
    parser.add_argument("--project", default=None, help="run folders (default: a temporary folder)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, running_server(args.project or tmp) as url, Browser(url) as b:
        b.open("train")
        b.train(epochs=8, limit="500")
        b.shot(os.path.join(args.out, "train.png"))
        b.open("conv")
        b.select('#conv-form select[name="padding"]', value="same")
        b.wait(lambda d: "+ 2·1 −" in b.find("#conv-formulas").text, 30, "same padding")
        b.select('#conv-form select[name="pool"]', value="max")
        b.wait_for("#conv-pooled")
        b.hover_output(0.02, 0.3)
        b.shot(os.path.join(args.out, "conv.png"))
        b.open("explorer")
        b.select("#explorer-model", index=0)
        b.select('#explorer-form select[name="image_sample"]', value="digit_3")
        b.select("#explorer-layer", value="features.3")
        b.click_and_wait("#explorer-run", "#explorer-layers img")
        b.click_and_wait("#explorer-patches", "#explorer-patch-out img")
        b.shot(os.path.join(args.out, "explorer.png"))
        b.open("tasks")
        b.task("faces")
        b.click_and_wait("#faces-detect", "#faces-out canvas", timeout=120)
        b.shot(os.path.join(args.out, "tasks.png"))
    print(f"wrote {args.out}/conv.png, explorer.png, tasks.png, train.png")


if __name__ == "__main__":
    main()
