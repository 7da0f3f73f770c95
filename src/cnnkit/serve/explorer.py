"""The model explorer's API: a model's summary, every layer's activations for a picture, and top-9 patches of a unit."""
import numpy as np

import cnnkit.functional as F

from cnnkit.serve import catalogue
from cnnkit.serve.images import enlarge, heatmap, png_url, read_picture

MAX_CHANNELS = 16      # feature maps shown per layer
PATCH_IMAGES = 160     # images searched for a unit's top-9 patches (small inputs)
PATCH_IMAGES_LARGE = 12  # ... for 224x224 models, whose forward pass costs seconds


def summary(project, model_id):
    """The layer table of a model at its input shape: name, type, output shape, parameters, multiply-adds."""
    from cnnkit.nn.summary import summary as tabulate
    loaded = catalogue.load(project, model_id)
    table = tabulate(loaded.model, loaded.input_shape, show=False)
    return {"model": model_id, "input_shape": list(loaded.input_shape),
            "rows": [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape), "params": r.params,
                      "macs": r.macs} for r in table.rows],
            "total_params": table.total_params, "trainable_params": table.trainable_params, "macs": table.macs,
            "patch_layers": list(_fields(loaded.model))}


def _fields(model):
    """The receptive field of each layer with a kernel (the layers whose units have top-9 patches)."""
    from cnnkit.viz.activations import receptive_fields
    return receptive_fields(model)


async def picture_for(loaded, form):
    """The form's picture at the model's input shape, floats in [0, 1], shape (H, W, C)."""
    from cnnkit.data.images import resize
    H, W, C = loaded.input_shape
    image = await read_picture(form, "image", mode="gray" if C == 1 else "rgb")
    if C not in (1, 3):
        raise ValueError(f"the model takes {C} channels; the explorer shows grey or RGB models only")
    return np.clip(resize(image, (H, W)), 0, 1).astype(np.float32)


def _layer_outputs(model, images):
    """``[(name, type, output ndarray)]`` of every leaf layer for a batch, caught by forward hooks in one pass."""
    from cnnkit.autograd import Tensor, no_grad
    names = {id(m): name for name, m in model.named_modules()}
    leaves = [m for m in model.modules() if not any(c is not None for c in m.children())]
    caught = []

    def record(module, inputs, output):
        caught.append((names[id(module)], type(module).__name__, output.numpy()))

    handles = [leaf.register_forward_hook(record) for leaf in leaves]
    try:
        with no_grad():
            out = model(Tensor(images))
    finally:
        for handle in handles:
            handle.remove()
    # a model with several outputs (MTCNN's stages, taps) has no single class vector to show
    return caught, out.numpy() if hasattr(out, "numpy") else None


def _classifier(loaded, logits):
    """Whether the output is class scores: (1, K) from a checkpoint with class names or a model built with classes."""
    has_classes = loaded.class_names or "num_classes" in getattr(loaded.model, "config", {})
    return logits is not None and logits.ndim == 2 and bool(has_classes)


def top_classes(loaded, probabilities):
    """The top-5 classes of one row of probabilities (1, K), named by the checkpoint's class names if it has them."""
    p = probabilities[0]
    names = loaded.class_names or [str(i) for i in range(len(p))]
    return [{"label": names[i], "probability": round(float(p[i]), 4)} for i in np.argsort(-p)[:5]]


async def activations(project, form):
    """Every layer's activations for the form's picture, as heat-map grids of the first channels, and the prediction."""
    from cnnkit.viz.images import image_grid
    loaded = catalogue.load(project, form.get("model"))
    image = await picture_for(loaded, form)
    outputs, logits = _layer_outputs(loaded.model, loaded.normalize(image[None]))
    layers = []
    for name, kind, out in outputs:
        row = {"name": name, "type": kind, "shape": list(out.shape[1:])}
        if out.ndim == 4:
            shown = out[0, :, :, :MAX_CHANNELS]
            # each channel scaled to its own range, as a heat map, on a white grid
            tiles = [heatmap(shown[..., c]) / np.float32(255) for c in range(shown.shape[-1])]
            grid = image_grid(tiles, ncols=min(8, len(tiles)), pad=1)
            row.update(png=png_url(enlarge(grid, 96)), channels_shown=int(shown.shape[-1]))
        layers.append(row)
    return {"model": loaded.id, "input": png_url(enlarge(image, 128)), "layers": layers,
            "prediction": top_classes(loaded, F.softmax(logits).numpy()) if _classifier(loaded, logits) else None,
            "trained": loaded.id.startswith("run:") or loaded.id.endswith(":pretrained")}


def _patch_images(project, loaded):
    """The pictures searched for top-9 patches: the checkpoint's test images, or crops of the sample photos."""
    H, W, C = loaded.input_shape
    if loaded.id.startswith("run:"):
        import json
        import os
        from cnnkit import data
        path = catalogue.checkpoints(project, "classify")[loaded.id[4:]]
        args_file = os.path.join(os.path.dirname(os.path.dirname(path)), "args.json")
        with open(args_file, encoding="utf-8") as f:
            name = json.load(f)["data"]
        test = data.load_dataset(name, "test")
        images = test.images[:PATCH_IMAGES]
        return data.Resize((H, W))(images) if images.shape[1:3] != (H, W) else images
    from cnnkit.serve.images import _samples
    from cnnkit.viz.images import random_crops
    count = PATCH_IMAGES if H * W <= 64 * 64 else PATCH_IMAGES_LARGE
    crops = random_crops(list(_samples().values()), count, H, scale=(1.0, 3.0), seed=0)
    if C == 1:
        crops = crops.mean(axis=-1, keepdims=True)
    return crops


def patches(project, body):
    """The 9 pictures' patches that most excite one unit (channel) of a layer, with their activations."""
    from cnnkit.viz.activations import layer_activations, patch_grid, top_k_patches
    loaded = catalogue.load(project, body.get("model"))
    fields = _fields(loaded.model)
    layer = body.get("layer")
    if layer not in fields:
        raise ValueError(f"layer must be one of {', '.join(fields)}, got {layer!r}")
    try:
        unit = int(body.get("unit", 0))
    except (TypeError, ValueError):
        raise ValueError(f"unit must be an integer, got {body.get('unit')!r}") from None
    run = layer_activations(loaded.model, layer)
    images = _patch_images(project, loaded)
    channels = run(loaded.normalize(images[:1])).shape[-1]
    if not 0 <= unit < channels:
        raise ValueError(f"unit must be between 0 and {channels - 1} for layer {layer}, got {unit}")
    found, values = top_k_patches(lambda x: run(loaded.normalize(x)), images, fields[layer], k=9, units=[unit])
    grid = patch_grid(found)
    return {"layer": layer, "unit": unit, "channels": int(channels), "field": fields[layer].size,
            "searched": int(len(images)), "values": [round(float(v), 4) for v in values[0]],
            "png": png_url(enlarge(grid, 180))}
