"""A bounded, seeded mutation fuzzer for cnnkit's file readers (used by test_fuzz_readers.py).

Each reader has valid seed files written here. A case takes one seed file, mutates
its bytes (flips, interesting values, insertions, deletions, truncation, a repeated
chunk) or, for JSON, its structure (a value replaced by another JSON type, a huge
or negative number, deep nesting), writes it, calls the reader and sorts the
outcome: ``loaded``, ``clear error`` (a ValueError whose message names the mutated
file), or anything else, which is a bug: ``ValueError without the file name`` or
the exception's type.
"""
import io
import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))  # the writers of the reader tests

LOADED, CLEAR = "loaded", "clear error"
_INTERESTING = [0, 1, 0x7F, 0x80, 0xFF]
_JSON_VALUES = [None, True, -1, 0, 2**63, 2**64 + 1, 1e308, -0.5, "", "x" * 50, "F32", [], [0], [-1, 2**70],
                {}, {"dtype": "F32"}, [[[[[[[[0]]]]]]]]]


def mutate_bytes(data, rng):
    """One to four random byte-level changes of ``data``."""
    data = bytearray(data)
    for _ in range(rng.integers(1, 5)):
        kind = rng.integers(7)
        at = int(rng.integers(len(data) + 1))
        if kind == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << int(rng.integers(8))
        elif kind == 1 and data:
            data[min(at, len(data) - 1)] = _INTERESTING[rng.integers(len(_INTERESTING))]
        elif kind == 2:
            data[at:at] = rng.integers(0, 256, rng.integers(1, 9)).astype(np.uint8).tobytes()
        elif kind == 3:
            del data[at:at + int(rng.integers(1, 17))]
        elif kind == 4:
            del data[at:]
        elif kind == 5 and data:
            chunk = data[at:at + int(rng.integers(1, 65))]
            data[at:at] = chunk * int(rng.integers(1, 4))
        elif kind == 6 and len(data) >= 8:
            # an 8-byte little-endian length or count somewhere becomes huge or negative
            at = min(at, len(data) - 8)
            huge = (2**31, 2**32 - 1, 2**62, 2**64 - 1)[rng.integers(4)]
            data[at:at + 8] = huge.to_bytes(8, "little")
    return bytes(data)


def mutate_json(value, rng):
    """``value`` with one node replaced by another JSON value, deleted, or given an extra sibling."""
    paths = []

    def walk(node, path):
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            walk(child, path + [key])

    value = json.loads(json.dumps(value))
    walk(value, [])
    path = paths[rng.integers(len(paths))]
    replacement = _JSON_VALUES[rng.integers(len(_JSON_VALUES))]
    if not path:
        return replacement
    node = value
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, dict) and rng.random() < 0.2:
        node[f"extra{rng.integers(9)}"] = replacement
    elif isinstance(node, dict) and rng.random() < 0.2:
        del node[path[-1]]
    else:
        node[path[-1]] = replacement
    return value


def _json_text_mutant(text, rng):
    """JSON text mutated structurally, or with a value nested 100,000 lists deep (one case in ten)."""
    if rng.random() < 0.1:
        return text.replace("{", '{"deep": ' + "[" * 100000 + "]" * 100000 + ", ", 1)
    return json.dumps(mutate_json(json.loads(text), rng))


def _safetensors_json_mutant(data, rng):
    """A safetensors file whose header JSON is mutated structurally (lengths kept consistent)."""
    size = int.from_bytes(data[:8], "little")
    text = _json_text_mutant(data[8:8 + size].decode(), rng).encode()
    return len(text).to_bytes(8, "little") + text + data[8 + size:]


def _json_file_mutant(data, rng):
    """A JSON file mutated structurally."""
    return _json_text_mutant(data.decode(), rng).encode()


# --- seeds: each returns {relative file name: bytes}; the reader reads the folder or one file ---

def _state_seeds(suffix):
    from cnnkit.io import save_state
    buffer = {}
    rng = np.random.default_rng(0)
    for i, state in enumerate([{"w": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(3)},
                               {"x": np.zeros((0, 2), np.float16), "m": np.array([True, False]),
                                "s": np.array(7, np.int64)}]):
        tmp = Path(f"/tmp/.cnnkit-fuzz-seed{os.getpid()}{suffix}")
        save_state(tmp, state, {"note": "seed", "i": str(i)})
        buffer[f"s{i}{suffix}"] = tmp.read_bytes()
        tmp.unlink()
    return buffer


def _joblib_seed():
    import joblib
    import lz4.frame
    out = io.BytesIO()
    joblib.dump([np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)], out)
    return out.getvalue(), lz4.frame


class Reader:
    """A reader under test: seed files, how to mutate one, and how to read the result."""

    def __init__(self, seeds, read, mutators=(mutate_bytes,), pick=None):
        self.seeds, self.read, self.mutators, self.pick = seeds, read, mutators, pick


def readers():
    """Every reader the suite fuzzes, by name."""
    from cnnkit.io import load_state

    def state_reader(suffix, mutators):
        return Reader(lambda: _state_seeds(suffix), lambda root, name: load_state(root / name), mutators)

    def dlib_dnn_seeds():
        from test_io_dlib_dat import tiny_net
        return {"net.dat": tiny_net()[0]}

    def dlib_dnn_read(root, name):
        from cnnkit.io import load_dlib_dnn
        from test_io_dlib_dat import tiny_net
        return load_dlib_dnn(root / name, tiny_net()[1])

    def shape_predictor_seeds():
        from test_io_dlib_shape_predictor import predictor_bytes, random_state
        return {"sp.dat": predictor_bytes(random_state())}

    def shape_predictor_read(root, name):
        from cnnkit.io.dlib_shape_predictor import load_dlib_shape_predictor
        return load_dlib_shape_predictor(root / name)

    def hdf5_seeds():
        from test_io_keras_h5 import _write_hed
        tmp = Path(f"/tmp/.cnnkit-fuzz-seed{os.getpid()}.h5")
        _write_hed(tmp, channels=(1, 1, 1, 1, 1))
        data = tmp.read_bytes()
        tmp.unlink()
        return {"hed.h5": data}

    def hdf5_read(root, name):
        from cnnkit.io import load_keras_hed
        return load_keras_hed(root / name)

    def joblib_seeds():
        pickled, frame = _joblib_seed()
        return {"w.lz4": frame.compress(pickled)}

    def joblib_mutant(data, rng):
        import lz4.frame
        if rng.random() < 0.2:
            return mutate_bytes(data, rng)
        return lz4.frame.compress(mutate_bytes(lz4.frame.decompress(data), rng))

    def joblib_read(root, name):
        from cnnkit.io import load_joblib_lz4
        return load_joblib_lz4(root / name)

    def png(seed, size=(6, 5)):
        from PIL import Image
        out = io.BytesIO()
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(out, "PNG" if seed % 2 else "JPEG")
        return out.getvalue()

    def image_folder_seeds():
        return {f"{c}/{i}.{'png' if i % 2 else 'jpg'}": png(i) for c in ("cat", "dog") for i in range(3)}

    def image_folder_read(root, name):
        from cnnkit.data.datasets import ImageFolder
        return ImageFolder(root, size=(5, 6))

    def yolo_seeds():
        labels = {f"labels/{i}.txt": f"{i % 2} 0.5 0.5 0.25 0.125\n1 0.1 0.2 0.3 0.4\n".encode() for i in range(3)}
        return {**labels, **{f"images/{i}.png": png(2 * i + 1) for i in range(3)}, "classes.txt": b"a\nb\n"}

    def yolo_text_mutant(data, rng):
        tokens = data.decode("utf-8", "replace").split(" ")
        choices = ["999999999", "-1", "1e999", "nan", "0.5", "9" * 30, "\xff", "", "\n", "0 0 0 0 0 0", "2"]
        tokens[rng.integers(len(tokens))] = choices[rng.integers(len(choices))]
        return " ".join(tokens).encode("utf-8", "surrogateescape")

    def yolo_read(root, name):
        from cnnkit.detection.labels import YoloFolder
        folder = YoloFolder(root)
        return [folder[i] for i in range(len(folder))]

    def face_db_seeds():
        from cnnkit.face.database import FaceDatabase
        tmp = Path(f"/tmp/.cnnkit-fuzz-db{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        db = FaceDatabase(tmp)
        db.add("ada", np.ones((2, 128), np.float32))
        db.add("bob", np.zeros(128, np.float32))
        files = {p.name: p.read_bytes() for p in tmp.iterdir() if p.suffix in (".json", ".safetensors")}
        shutil.rmtree(tmp)
        return files

    def face_db_read(root, name):
        from cnnkit.face.database import FaceDatabase
        return FaceDatabase(root)

    def index_seeds():
        record = {"file": "mtcnn.safetensors", "sha256": "0" * 64, "size": 3, "requirement": "mtcnn==1.0.0",
                  "archive_sha256": "1" * 64}
        return {"weights/index.json": json.dumps({"version": 1, "entries": {"mtcnn": record}}).encode(),
                "weights/mtcnn.safetensors": b"abc"}

    def index_read(root, name):
        from cnnkit import weights
        old = os.environ.get("CNNKIT_HOME")
        os.environ["CNNKIT_HOME"] = str(root)
        try:
            weights.list_entries()
            weights.path("mtcnn")
        except FileNotFoundError:  # a mutant without the entry: "not cached" is the right answer
            pass
        finally:
            os.environ.pop("CNNKIT_HOME") if old is None else os.environ.__setitem__("CNNKIT_HOME", old)

    def is_json(name):
        return name.endswith(".json")

    return {
        "safetensors": state_reader(".safetensors", (mutate_bytes, _safetensors_json_mutant)),
        "npz": state_reader(".npz", (mutate_bytes,)),
        "dlib dnn .dat": Reader(dlib_dnn_seeds, dlib_dnn_read),
        "dlib shape predictor .dat": Reader(shape_predictor_seeds, shape_predictor_read),
        "keras hdf5": Reader(hdf5_seeds, hdf5_read),
        "joblib lz4": Reader(joblib_seeds, joblib_read, (joblib_mutant,)),
        "image folder": Reader(image_folder_seeds, image_folder_read),
        "yolo folder": Reader(yolo_seeds, yolo_read, (yolo_text_mutant, mutate_bytes),
                              pick=lambda name, mutator: name.endswith(".txt") or mutator is mutate_bytes),
        "face database": Reader(face_db_seeds, face_db_read, (mutate_bytes, _json_file_mutant),
                                pick=lambda name, mutator: mutator is mutate_bytes or is_json(name)),
        "weights index.json": Reader(index_seeds, index_read, (mutate_bytes, _json_file_mutant),
                                     pick=lambda name, mutator: is_json(name)),
    }


def classify(exc, name):
    """The outcome of a failed read of the file ``name``."""
    if isinstance(exc, ValueError):
        return CLEAR if Path(name).name in str(exc) else "ValueError without the file name"
    return type(exc).__name__


def fuzz(name, reader, root, cases, seed=0, keep=None):
    """Run ``cases`` mutants of ``reader``'s seeds in the folder ``root``; return a Counter of outcomes.

    Mutants with another outcome than loaded or a clear error are written to ``keep``
    (a folder) when given, as ``<case>-<seed file, '/' written '__'>``.
    """
    rng = np.random.default_rng(seed)
    seeds = reader.seeds()
    names = sorted(seeds)
    outcomes = Counter()
    for case in range(cases):
        mutator = reader.mutators[rng.integers(len(reader.mutators))]
        candidates = [n for n in names if reader.pick is None or reader.pick(n, mutator)]
        target = candidates[rng.integers(len(candidates))]
        try:
            data = mutator(seeds[target], rng)
        except (ValueError, UnicodeDecodeError):  # a JSON mutator on bytes that are not JSON
            data = mutate_bytes(seeds[target], rng)
        shutil.rmtree(root, ignore_errors=True)
        for file, content in seeds.items():
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            (root / file).write_bytes(data if file == target else content)
        try:
            reader.read(root, names[0] if len(names) == 1 else target)
            outcome = LOADED
        except Exception as exc:  # sorted below: anything but a clear ValueError is a finding
            outcome = classify(exc, target)
        outcomes[outcome] += 1
        if outcome not in (LOADED, CLEAR) and keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{case}-{target.replace('/', '__')}").write_bytes(data)
    return outcomes
