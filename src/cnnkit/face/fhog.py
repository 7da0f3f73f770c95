"""Felzenszwalb's HOG (FHOG) as dlib's ``extract_fhog_features`` computes it.

31 features per 8x8 cell (Felzenszwalb et al., PAMI 2010): 18 contrast-sensitive
orientation bins, 9 contrast-insensitive ones and 4 texture (gradient energy)
features, each cell normalised by the four 2x2 blocks of cells around it and clipped
at 0.2. Following dlib (``dlib/image_transforms/fhog.h``):

- gradients are central differences; in an RGB image each pixel takes the channel
  with the largest squared gradient. dlib breaks ties between channels differently
  in its 8-wide SIMD loop (the later channel wins) and in the columns after it (the
  earlier channel wins); both rules are kept, as they decide the orientation bin;
- the orientation is the first of the 18 directions (9 unit vectors and their
  opposites, in float32 as dlib holds them) with the largest dot product;
- each pixel's gradient magnitude is spread bilinearly over the 4 nearest cells, in
  float32 in dlib's order of operations;
- the feature planes are zero-padded so that a ``rows x cols`` filter can be
  centred on every cell: plane size ``(cells - 2) + padding - 1``.

The loops run compiled (:mod:`cnnkit.face._dlib_kernels`); the features equal dlib's.
"""
import numpy as np

from cnnkit.face import _dlib_kernels as _kernels

__all__ = ["extract_fhog_features", "fhog_planes", "NUM_FEATURES"]

#: Features per cell.
NUM_FEATURES = 31


def extract_fhog_features(image, cell_size=8, rows_padding=1, cols_padding=1):
    """dlib's ``extract_fhog_features``: 31 FHOG features per cell, zero-padded for a filter.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3) or (H, W)
        RGB or grey pixels.
    cell_size : int, default 8
        Side of a cell in pixels (>= 2).
    rows_padding, cols_padding : int, default 1
        The size of the filter that will scan the features: the planes get
        ``rows_padding - 1`` extra rows (``(rows_padding - 1) // 2`` of them on top)
        and ``cols_padding - 1`` extra columns, all zero.

    Returns
    -------
    ndarray of float32, shape (cells_nr - 2 + rows_padding - 1, cells_nc - 2 + cols_padding - 1, 31)
        Channels-last features (a view of :func:`fhog_planes`); ``cells = round(H /
        cell_size)``. (0, 0, 31) when the image holds fewer than 3 cells in either
        direction.
    """
    return fhog_planes(image, cell_size, rows_padding, cols_padding).transpose(1, 2, 0)


def fhog_planes(image, cell_size=8, rows_padding=1, cols_padding=1):
    """:func:`extract_fhog_features` as contiguous planes (31, rows, cols): the layout filters scan fastest."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"extract_fhog_features: image must be uint8 RGB (H, W, 3) or grey (H, W), got shape "
                         f"{image.shape} and dtype {image.dtype}")
    if cell_size < 2 or rows_padding < 1 or cols_padding < 1:
        raise ValueError(f"extract_fhog_features: cell_size must be >= 2 and the paddings >= 1, got cell_size "
                         f"{cell_size}, rows_padding {rows_padding}, cols_padding {cols_padding}")
    planes = np.ascontiguousarray(image if image.ndim == 3 else image[..., None])
    return _kernels.fhog(planes, int(cell_size), int(rows_padding), int(cols_padding), _kernels.DIRECTIONS)
