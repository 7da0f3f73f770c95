"""Running face-api's tiny face detector (``face_api_oracle.js``) in Node on photos given as RGB arrays."""
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ORACLE = Path(__file__).resolve().parent
NAMED_FACES = ORACLE.parent / "data" / "named_faces"


def missing():
    """Why the oracle cannot run here (None when it can): Node absent, or the npm packages not installed."""
    if shutil.which("node") is None:
        return "node is not installed: the face-api oracle runs in Node (apt-get install nodejs npm)"
    if not (ORACLE / "node_modules" / "@vladmandic" / "face-api").is_dir():
        return f"face-api is not installed in {ORACLE}: run `npm ci --ignore-scripts` there (.ci/run does)"
    return None


def photos():
    """(name, RGB uint8 image): the named faces photos, a small enlarged face, a tall and a wide crop, a collage."""
    from PIL import Image

    photos = [(str(p.relative_to(NAMED_FACES)), np.asarray(Image.open(p).convert("RGB")))
              for p in sorted(NAMED_FACES.glob("*/*.jpg"))]
    obama = dict(photos)["obama/obama.jpg"]
    small = np.asarray(Image.fromarray(obama).resize((91, 114), Image.BILINEAR))  # enlarged to 416 by both
    tiles = [np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR)) for _, image in photos[::4]]
    collage = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:4], axis=1)])
    return photos + [("obama 91x114", small), ("obama tall crop", obama[100:700, 300:650]),
                     ("obama wide crop", obama[100:500, 0:900]), ("collage of four", collage)]


def run_face_api(images, input_size=416, score_threshold=0.5, timeout=900):
    """face-api's answer for RGB uint8 images: ``{"backend", "face_api", "tfjs", "results"}``.

    Each result holds ``"raw"`` (the network's output, flat) with ``"raw_shape"``, and
    ``"detections"``: ``{"box": [x1, y1, x2, y2], "score"}`` by descending score.
    """
    with tempfile.TemporaryDirectory() as folder:
        request = []
        for k, image in enumerate(images):
            np.ascontiguousarray(image, dtype=np.uint8).tofile(Path(folder) / f"{k}.rgb")
            request.append({"pixels": str(Path(folder) / f"{k}.rgb"), "height": image.shape[0],
                            "width": image.shape[1]})
        (Path(folder) / "request.json").write_text(json.dumps({"input_size": input_size,
                                                               "score_threshold": score_threshold,
                                                               "images": request}))
        done = subprocess.run(["node", str(ORACLE / "face_api_oracle.js"), str(Path(folder) / "request.json")],
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"face_api_oracle.js failed:\n{done.stderr}")
    return json.loads(done.stdout)
