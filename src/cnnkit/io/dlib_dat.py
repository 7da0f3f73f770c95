"""Reading dlib's DNN serialization (``.dat``), e.g. ``dlib_face_recognition_resnet_model_v1.dat``.

A from-scratch reader following dlib's ``serialize.h``, ``dnn/core.h`` and
``dnn/layers.h``; dlib itself is not needed.
The file does not say which layer sits in which slot: that comes from the C++
network type, so the reader takes the layer sequence as a template
(:data:`FACE_RECOGNITION_RESNET_V1` is ``anet_type`` of dlib's
``dnn_face_recognition_ex.cpp``) and checks every record name against it.

The nesting of the file: ``int 1``, the loss record, then one version int per
wrapper from the outermost layer inwards, then the input record, then the payload
of each computing layer from the input outwards. Only the record versions found in
dlib's released face models are accepted; anything else is refused with the byte
offset where it was found.
"""
import os

import numpy as np

from cnnkit.io.dlib_serialize import DlibReader

__all__ = ["load_dlib_dnn", "FACE_RECOGNITION_RESNET_V1", "MMOD_HUMAN_FACE_DETECTOR"]


def _ares(tag_id):
    """relu(add_prev1(affine(con(relu(affine(con(tag1(x)))))))): dlib's ``ares`` block."""
    return (f"tag{tag_id}", "con", "affine", "relu", "con", "affine", f"add_prev{tag_id}", "relu")


# ares_down: relu(add_prev2(avg_pool 2x2/2(skip1(tag2(block<N, stride 2>(tag1(x))))))).
_ARES_DOWN = ("tag1", "con", "affine", "relu", "con", "affine", "tag2", "skip1", "avg_pool", "add_prev2", "relu")

#: Layer wrappers of dlib's face recognition ResNet from the input outwards (the loss
#: and the input layer excluded): 108 computing layers, 18 tags and 4 skips.
FACE_RECOGNITION_RESNET_V1 = (
    ("con", "affine", "relu", "max_pool")
    + _ares(1) * 3 + _ARES_DOWN
    + _ares(1) * 3 + _ARES_DOWN
    + _ares(1) * 2 + _ARES_DOWN
    + _ares(1) * 2 + _ARES_DOWN
    + ("avg_pool", "fc")
)

#: Layer wrappers of dlib's CNN face detector (``mmod_human_face_detector.dat``, the
#: ``net_type`` of dlib's ``cnn_face_detector.cpp``) from the input outwards: three 5x5/2
#: convolutions (16, 32, 32 filters), three 5x5 ones (45 filters), each followed by affine
#: and relu, then a 9x9 convolution to one score map.
MMOD_HUMAN_FACE_DETECTOR = ("con", "affine", "relu") * 6 + ("con",)

# Record names accepted for each kind of layer: the versions dlib's face models use.
_RECORD_NAMES = {"con": "con_4", "affine": "affine_", "relu": "relu_", "add_prev": "add_prev_",
                 "max_pool": "max_pool_2", "avg_pool": "avg_pool_2", "fc": "fc_2"}
_INPUT_NAMES = ("input_rgb_image_sized", "input_rgb_image_pyramid", "input_rgb_image_pyramid2")


def _kind(token):
    """Strip the tag number: ``"tag2"`` -> ``"tag"``, ``"add_prev1"`` -> ``"add_prev"``."""
    return token.rstrip("0123456789")


def _con(r, name):
    """Parse a con_4 record into an HWIO kernel, a bias and its geometry."""
    what = f"the convolution {name}"
    start = r.pos
    params = r.tensor(f"the parameters of {what}")
    filters, kh, kw, sy, sx, py, px = (r.count(f"{field} of {what}") for field in
                                       ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"))
    weight_shape = r.tensor_shape(f"the filter shape of {what}", 1)
    bias_shape = r.tensor_shape(f"the bias shape of {what}", 1)
    r.floats(4, f"the learning-rate and weight-decay multipliers of {what}")
    out_c, in_c = weight_shape[0], weight_shape[1]
    if weight_shape[2:] != (kh, kw) or out_c != filters or bias_shape != (1, filters, 1, 1) \
            or params.size != out_c * in_c * kh * kw + filters:
        r.fail(f"consistent shapes for {what}", f"found {filters} filters of {kh}x{kw}, filter shape "
                                                f"{weight_shape}, bias shape {bias_shape}, {params.size} "
                                                f"parameters", at=start)
    flat = params.reshape(-1)
    # dlib keeps filters as (O, C, KH, KW); cnnkit uses (KH, KW, C, O).
    weight = flat[:-filters].reshape(weight_shape).transpose(2, 3, 1, 0)
    tensors = {f"{name}.weight": np.ascontiguousarray(weight), f"{name}.bias": flat[-filters:].copy()}
    layer = {"type": "con", "name": name, "filters": filters, "kernel": [kh, kw], "stride": [sy, sx],
             "padding": [py, px]}
    return tensors, layer


def _affine(r, name):
    """Parse an affine_ record (per-channel gamma and beta), or a bn_con2 record folded into one as dlib does."""
    what = f"the affine layer {name}"
    start = r.pos
    record = r.string(f"the name of {what}")
    if record == "bn_con2":
        return _batch_norm_as_affine(r, name)
    if record != _RECORD_NAMES["affine"]:
        r.fail(f"the name 'affine_' or 'bn_con2' of {what}", f"found {record!r} (another layer or an unsupported "
                                                            f"version: does the file match the template?)", at=start)
    start = r.pos
    params = r.tensor(f"the parameters of {what}")
    gamma_shape = r.tensor_shape(f"the gamma shape of {what}", 1)
    r.tensor_shape(f"the beta shape of {what}", 1)
    r.count(f"the mode of {what} (0 = per channel)", {0})
    channels = gamma_shape[1]
    if gamma_shape != (1, channels, 1, 1) or params.size != 2 * channels:
        r.fail(f"consistent shapes for {what}", f"found gamma shape {gamma_shape} and {params.size} "
                                                f"parameters", at=start)
    flat = params.reshape(-1)
    tensors = {f"{name}.gamma": flat[:channels].copy(), f"{name}.beta": flat[channels:].copy()}
    return tensors, {"type": "affine", "name": name, "channels": channels}


def _batch_norm_as_affine(r, name):
    """A bn_con2 record (batch norm, per channel) folded into gamma and beta, as dlib's ``affine_(bn_)`` does.

    gamma' = gamma / sqrt(running_variance + eps), beta' = beta - gamma' * running_mean,
    in float32 like dlib.
    """
    what = f"the batch norm layer {name}"
    start = r.pos
    params = r.tensor(f"the parameters of {what}")
    gamma_shape = r.tensor_shape(f"the gamma shape of {what}", 1)
    r.tensor_shape(f"the beta shape of {what}", 1)
    for field in ("means", "invstds"):
        r.tensor(f"the batch {field} of {what}")
    running_mean = r.tensor(f"the running means of {what}").reshape(-1)
    running_var = r.tensor(f"the running variances of {what}").reshape(-1)
    r.count(f"num_updates of {what}")
    r.count(f"running_stats_window_size of {what}")
    r.floats(4, f"the learning-rate and weight-decay multipliers of {what}")
    eps = r.float(f"eps of {what}")
    channels = gamma_shape[1]
    if gamma_shape != (1, channels, 1, 1) or params.size != 2 * channels or running_mean.size != channels \
            or running_var.size != channels:
        r.fail(f"consistent shapes for {what}", f"found gamma shape {gamma_shape}, {params.size} parameters, "
                                                f"{running_mean.size} running means, {running_var.size} running "
                                                f"variances", at=start)
    flat = params.reshape(-1)
    gamma = flat[:channels] / np.sqrt(running_var + np.float32(eps))
    beta = flat[channels:] - gamma * running_mean
    return {f"{name}.gamma": gamma, f"{name}.beta": beta}, {"type": "affine", "name": name, "channels": channels}


def _pool(r, kind):
    """Parse a max_pool_2 or avg_pool_2 record; a 0x0 window means the whole plane."""
    kh, kw, sy, sx, py, px = (r.int(f"{field} of the {kind}") for field in
                              ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"))
    return {}, {"type": kind, "kernel": [kh, kw], "stride": [sy, sx], "padding": [py, px]}


def _fc(r, name):
    """Parse an fc_2 record into an (in, out) weight and, when present, a bias."""
    what = f"the fully connected layer {name}"
    start = r.pos
    outputs = r.count(f"num_outputs of {what}")
    inputs = r.count(f"num_inputs of {what}")
    params = r.tensor(f"the parameters of {what}")
    r.tensor_shape(f"the weight shape of {what}", 1)
    r.tensor_shape(f"the bias shape of {what}", 1)
    bias_mode = r.count(f"the bias mode of {what} (0 = bias, 1 = none)", {0, 1})
    r.floats(4, f"the learning-rate and weight-decay multipliers of {what}")
    has_bias = bias_mode == 0
    if params.size != (inputs + has_bias) * outputs:
        r.fail(f"{(inputs + has_bias) * outputs} parameters for {what} ({inputs} inputs, {outputs} outputs)",
               f"found {params.size}", at=start)
    # dlib stores W row-major as (num_inputs, num_outputs), then the bias row: already (in, out).
    flat = params.reshape(inputs + has_bias, outputs)
    tensors = {f"{name}.weight": flat[:inputs].copy()}
    if has_bias:
        tensors[f"{name}.bias"] = flat[inputs].copy()
    return tensors, {"type": "fc", "name": name, "in_features": inputs, "out_features": outputs,
                     "bias": has_bias}


def _overlap_tester(r, what):
    """A ``test_box_overlap``: its IoU and covered-fraction thresholds."""
    iou, covered = r.floats(2, f"the thresholds of {what}")
    return {"iou_thresh": iou, "percent_covered_thresh": covered}


def _mmod_options(r):
    """dlib's ``mmod_options`` (versions 1-4): detector windows, losses, the overlap testers."""
    version = r.count("the mmod_options version", {1, 2, 3, 4})
    if version == 1:
        windows = [{"width": r.count("the detector window width"), "height": r.count("the detector window height"),
                    "label": ""}]
    else:
        windows = []
        for i in range(r.count("the number of detector windows")):
            window_version = r.count(f"the version of detector window {i}", {1, 2})
            window = {"width": r.count(f"the width of detector window {i}"),
                      "height": r.count(f"the height of detector window {i}")}
            window["label"] = r.string(f"the label of detector window {i}") if window_version == 2 else ""
            windows.append(window)
    options = {"detector_windows": windows, "loss_per_false_alarm": r.float("loss_per_false_alarm"),
               "loss_per_missed_target": r.float("loss_per_missed_target"),
               "truth_match_iou_threshold": r.float("truth_match_iou_threshold"),
               "overlaps_nms": _overlap_tester(r, "the NMS overlap tester"),
               "overlaps_ignore": _overlap_tester(r, "the ignore overlap tester"),
               "assume_image_pyramid": True, "use_bounding_box_regression": False}
    if version >= 3:
        options["assume_image_pyramid"] = r.count("assume_image_pyramid", {0, 1}) == 1
    if version >= 4:
        options["use_bounding_box_regression"] = r.bool("use_bounding_box_regression")
        options["bbr_lambda"] = r.float("bbr_lambda")
    return options


def _loss(r):
    """The loss record: ``loss_metric_2`` (face recognition) or ``loss_mmod_`` (the CNN face detector)."""
    start = r.pos
    name = r.string("the loss layer's name")
    if name == "loss_metric_2":
        return {"type": "loss_metric", "margin": r.float("the loss margin"),
                "dist_thresh": r.float("the loss distance threshold")}
    if name == "loss_mmod_":
        return {"type": "loss_mmod", **_mmod_options(r)}
    r.fail("the loss layer 'loss_metric_2' or 'loss_mmod_'", f"found {name!r}", at=start)


def _input(r):
    """The input record: channel means, and the chip size or the image pyramid's paddings."""
    start = r.pos
    name = r.string("the input layer's name")
    if name not in _INPUT_NAMES:
        r.fail(f"an input layer in {list(_INPUT_NAMES)}", f"found {name!r}", at=start)
    red, green, blue = r.floats(3, "the input layer's channel means")
    net_input = {"avg_red": red, "avg_green": green, "avg_blue": blue}
    if name == "input_rgb_image_sized":
        net_input.update(rows=r.int("the input rows"), cols=r.int("the input columns"))
    elif name == "input_rgb_image_pyramid2":
        net_input.update(pyramid_padding=r.count("the pyramid padding"),
                         pyramid_outer_padding=r.count("the pyramid outer padding"))
    else:
        # dlib's defaults for files written before the paddings were stored.
        net_input.update(pyramid_padding=10, pyramid_outer_padding=11)
    return net_input


def load_dlib_dnn(path, layers=FACE_RECOGNITION_RESNET_V1):
    """Read a dlib DNN ``.dat`` file into a cnnkit state dict, executing nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.dat`` file, e.g. ``dlib_face_recognition_resnet_model_v1.dat``.
    layers : tuple of str
        The network's layer wrappers from the input outwards, without loss and input:
        ``"con"``, ``"affine"``, ``"relu"``, ``"max_pool"``, ``"avg_pool"``, ``"fc"``,
        ``"add_prev<N>"``, ``"tag<N>"``, ``"skip<N>"``. The first must be a computing
        layer. Defaults to dlib's face recognition ResNet;
        :data:`MMOD_HUMAN_FACE_DETECTOR` is dlib's CNN face detector.

    Returns
    -------
    state : dict of str -> numpy.ndarray
        Numbered from the input: ``conv1.weight`` (7, 7, 3, 32) HWIO, ``conv1.bias``
        (32,), ``affine1.gamma`` (32,), ``affine1.beta`` (32,), ... ``conv29.*``,
        ``affine29.*``, ``fc.weight`` (256, 128) as (in, out) (and ``fc.bias`` if the
        file has one); float32.
    info : dict
        ``"input"``: ``{"avg_red", "avg_green", "avg_blue"}`` and ``"rows"``,
        ``"cols"`` (``input_rgb_image_sized``) or ``"pyramid_padding"``,
        ``"pyramid_outer_padding"`` (``input_rgb_image_pyramid``); ``"loss"``:
        ``{"type": "loss_metric", "margin", "dist_thresh"}`` or ``{"type":
        "loss_mmod", "detector_windows", "overlaps_nms", ...}`` (dlib's
        ``mmod_options``); ``"layers"``: one dict per template entry (type, name,
        geometry), from the input outwards; ``"num_floats"`` (parameter values read)
        and ``"num_bytes"`` (all consumed).

    Raises
    ------
    ValueError
        On a truncated file, a record that does not match the template or an
        unsupported record version, naming the byte offset and what was expected.
    """
    kinds = [_kind(token) for token in layers]
    unknown = sorted(set(kinds) - set(_RECORD_NAMES) - {"tag", "skip"})
    if unknown or not kinds or kinds[0] in ("tag", "skip"):
        raise ValueError(f"bad layer template: unknown kinds {unknown}, or it is empty or starts with a "
                         f"tag/skip ({list(layers)[:3]}...)")
    with open(path, "rb") as f:
        r = DlibReader(f.read(), os.path.basename(os.fspath(path)))

    r.count("the loss layer version", {1})
    loss = _loss(r)

    versions = {}
    for index in reversed(range(len(kinds))):
        kind = kinds[index]
        what = f"the version of layer {index} ({layers[index]}), counted from the input"
        if kind in ("tag", "skip"):
            versions[index] = r.count(what, {1})
        else:
            versions[index] = r.count(what, {2, 3} if index == 0 else {1, 2})

    net_input = _input(r)

    state, infos, counts = {}, [], {"con": 0, "affine": 0}
    for index, (token, kind) in enumerate(zip(layers, kinds)):
        if kind in ("tag", "skip", "add_prev", "relu"):
            infos.append({"type": kind, "id": int(token[len(kind):])} if token != kind else {"type": kind})
            if kind in ("tag", "skip"):
                continue
            r.name(f"layer {index} ({token})", _RECORD_NAMES[kind])
        elif kind in ("con", "affine"):
            counts[kind] += 1
            name = f"{'conv' if kind == 'con' else 'affine'}{counts[kind]}"
            if kind == "con":
                r.name(f"layer {index} ({name})", _RECORD_NAMES[kind])
                tensors, info = _con(r, name)
            else:
                tensors, info = _affine(r, name)
            state.update(tensors)
            infos.append(info)
        else:
            r.name(f"layer {index} ({token})", _RECORD_NAMES[kind])
            tensors, info = _fc(r, "fc") if kind == "fc" else _pool(r, kind)
            state.update(tensors)
            infos.append(info)
        for flag in ("this_layer_setup_called", "gradient_input_is_stale", "get_output_and_gradient_input_disabled"):
            r.bool(f"the {flag} flag of layer {index} ({token})")
        r.tensor(f"the x_grad of layer {index} ({token})")
        r.tensor(f"the cached output of layer {index} ({token})")
        if index == 0:
            r.tensor("grad_final of the layer over the input")
            if versions[0] >= 3:
                r.int("the sample expansion factor")
        elif versions[index] == 2:
            r.tensor(f"the params_grad of layer {index} ({token})")

    r.expect_end()
    info = {"input": net_input, "loss": loss, "layers": infos,
            "num_floats": sum(int(a.size) for a in state.values()), "num_bytes": r.pos}
    return state, info
