"""The convolution explainer's API: a grey picture, a 3x3 kernel, our conv2d and pooling, the numbers behind."""
import numpy as np

import cnnkit.functional as F
from cnnkit import filters
from cnnkit.data.images import resize
from cnnkit.ops.conv import _resolve_padding
from cnnkit.serve.images import heatmap, png_url, read_picture

#: The kernels the page offers by name (cnnkit.filters), besides a typed 3x3 one.
PRESETS = {"vertical": filters.vertical, "horizontal": filters.horizontal,
           "sobel": filters.sobel, "sobel_y": lambda: filters.sobel(vertical=False),
           "scharr": filters.scharr, "scharr_y": lambda: filters.scharr(vertical=False)}
SIZES = (8, 128)
MAX_STRIDE = 4
MAX_PADDING = 8


def _integer(form, name, default, low, high):
    """An integer form field in [low, high], with an error naming the field."""
    text = str(form.get(name) or default).strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def parse_kernel(form):
    """The (3, 3) float32 kernel: a preset's, or nine numbers typed in ``kernel_values``."""
    name = form.get("kernel") or "vertical"
    if name in PRESETS:
        return PRESETS[name]()
    if name != "custom":
        raise ValueError(f"kernel must be one of {', '.join(PRESETS)} or custom, got {name!r}")
    text = (form.get("kernel_values") or "").replace(",", " ").replace(";", " ").split()
    try:
        values = [float(v) for v in text]
    except ValueError:
        raise ValueError(f"kernel_values must be 9 numbers, got {form.get('kernel_values')!r}") from None
    if len(values) != 9 or not all(np.isfinite(values)):
        raise ValueError(f"kernel_values must be 9 finite numbers (3 rows of 3), got {len(values)} values")
    return np.asarray(values, dtype=np.float32).reshape(3, 3)


def parse_padding(form):
    """"valid", "same" or an integer 0..MAX_PADDING."""
    text = str(form.get("padding") or "valid").strip()
    if text in ("valid", "same"):
        return text
    return _integer(form, "padding", 0, 0, MAX_PADDING)


def _formula(n, k, pads, stride, axis):
    """The output-size formula of one axis with the numbers filled in."""
    total = pads[0] + pads[1]
    out = (n + total - k) // stride + 1
    pad_text = f"2·{pads[0]}" if pads[0] == pads[1] else f"{pads[0]} + {pads[1]}"
    return {"axis": axis, "n": n, "k": k, "pad": list(pads), "stride": stride, "out": out,
            "text": f"{axis}_out = ⌊({n} + {pad_text} − {k}) / {stride}⌋ + 1 = {out}"}


async def explain(form):
    """Run the explainer for one form: the input, kernel, padding, output map, pooling and formulas as JSON."""
    size = _integer(form, "size", 48, *SIZES)
    stride = _integer(form, "stride", 1, 1, MAX_STRIDE)
    padding = parse_padding(form)
    kernel = parse_kernel(form)
    pool = form.get("pool") or "none"
    if pool not in ("none", "max", "avg"):
        raise ValueError(f"pool must be none, max or avg, got {pool!r}")
    image = await read_picture(form, "image", mode="gray")
    if max(image.shape[:2]) > size:  # shrink to the chosen size; small pictures keep their pixels
        image = resize(image, longer_side=size)
    # round the input so that the dot products the page shows add up to the engine's output
    x = np.round(image[..., 0], 3).astype(np.float32)
    H, W = x.shape
    (top, bottom), (left, right) = _resolve_padding(padding, H, W, 3, 3, stride, stride)
    if H + top + bottom < 3 or W + left + right < 3:
        raise ValueError(f"the 3x3 kernel is larger than the padded {H}x{W} input; use padding 'same' or a number")
    out = F.conv2d(x[None, :, :, None], kernel[:, :, None, None], stride=stride, padding=padding).numpy()[0, :, :, 0]
    result = {
        "input": {"h": H, "w": W, "values": x.tolist(), "png": png_url(x)},
        "kernel": kernel.tolist(),
        "pad": {"top": top, "bottom": bottom, "left": left, "right": right},
        "stride": stride,
        "output": {"h": out.shape[0], "w": out.shape[1], "values": out.tolist(), "png": png_url(heatmap(out, "gray")),
                   "min": float(out.min()), "max": float(out.max())},
        "formulas": [_formula(H, 3, (top, bottom), stride, "H"), _formula(W, 3, (left, right), stride, "W")],
    }
    if pool != "none":
        if min(out.shape) < 2:
            raise ValueError(f"the {out.shape[0]}x{out.shape[1]} output is too small for 2x2 pooling")
        pooled = (F.max_pool2d if pool == "max" else F.avg_pool2d)(out[None, :, :, None], 2).numpy()[0, :, :, 0]
        result["pooled"] = {"kind": pool, "h": pooled.shape[0], "w": pooled.shape[1],
                            "png": png_url(heatmap(pooled, "gray")),
                            "formulas": [_formula(out.shape[0], 2, (0, 0), 2, "H"),
                                         _formula(out.shape[1], 2, (0, 0), 2, "W")]}
    return result
