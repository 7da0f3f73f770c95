"""The per-pixel loops of dlib's HOG detector, compiled by numba: resizing, FHOG, separable filters.

A vectorised NumPy FHOG took 0.46 s for one 789x850 image, where dlib-bin ran the whole
detection (a 12-level pyramid) in 0.25 s: these loops branch per pixel (dlib's tie
rules, its SIMD/scalar column split) and scatter into histograms. Written as dlib's
loops are, in the same float32/float64 arithmetic and order, they give dlib's pixels
and features bit for bit. ``cache=True`` keeps the machine code between runs
(compiled once, on first use).
"""
import math

import numpy as np
from numba import njit

# dlib's 9 unit orientation vectors (x, y), float32 as dlib holds them.
DIRECTIONS = np.array([[1.0000, 0.0000], [0.9397, 0.3420], [0.7660, 0.6428], [0.500, 0.8660],
                       [0.1736, 0.9848], [-0.1736, 0.9848], [-0.5000, 0.8660], [-0.7660, 0.6428],
                       [-0.9397, 0.3420]], dtype=np.float32)


@njit(cache=True, nogil=True)
def _blend_rgb(upper, lower, left, weights, out):
    """One output row of dlib's SIMD columns for RGB bytes: float32 blends of 4 pixels, truncated.

    ``upper``, ``lower`` and ``out`` are rows flattened to (width * 3,).
    """
    w0, w1, w2, w3 = weights[0], weights[1], weights[2], weights[3]
    for c in range(w0.shape[0]):
        a = left[c] * 3
        b = a + 3
        x0, x1, x2, x3 = w0[c], w1[c], w2[c], w3[c]
        for k in range(3):
            v = x0 * np.float32(upper[a + k]) + x1 * np.float32(upper[b + k])
            v = v + x2 * np.float32(lower[a + k])
            out[c * 3 + k] = np.int32(v + x3 * np.float32(lower[b + k]))


@njit(cache=True, nogil=True)
def _blend(upper, lower, left, weights, out, channels, round_to_bytes):
    """One output row of dlib's SIMD columns for grey planes (rows flattened to (width * channels,)).

    Float planes keep the float32 blend; grey bytes are rounded (dlib adds 0.5 and truncates).
    """
    w0, w1, w2, w3 = weights[0], weights[1], weights[2], weights[3]
    for c in range(w0.shape[0]):
        a = left[c] * channels
        b = a + channels
        for k in range(channels):
            v = w0[c] * np.float32(upper[a + k]) + w1[c] * np.float32(upper[b + k])
            v = v + w2[c] * np.float32(lower[a + k])
            v = v + w3[c] * np.float32(lower[b + k])
            if round_to_bytes:
                out[c * channels + k] = np.int64(np.float64(v) + 0.5)
            else:
                out[c * channels + k] = v


@njit(cache=True, nogil=True)
def resize_bilinear(src, out, rgb, grey_bytes):
    """dlib's bilinear ``resize_image`` of (H, W, C) ``src`` into (OH, OW, C) ``out``.

    ``rgb``: dlib's ``rgb_pixel`` path (bytes truncated, last columns in float64);
    otherwise its grey path, per plane (last columns with float32 fractions); with
    ``grey_bytes`` the results are bytes, rounded in the SIMD columns but truncated in
    the last ones, as dlib does.
    """
    H, W, C = src.shape
    OH, OW = out.shape[0], out.shape[1]
    if OH == 0 or OW == 0 or H == 0 or W == 0:
        return
    x_scale = (W - 1) / max(OW - 1, 1)
    y_scale = (H - 1) / max(OH - 1, 1)
    left = np.empty(OW, np.int32)
    frac32 = np.empty(OW, np.float32)
    frac64 = np.empty(OW, np.float64)
    # dlib's SIMD loop: four float32 lanes stepped by float32(4 * x_scale), stopping at the
    # first group whose last right neighbour leaves the image.
    x = -4 * x_scale
    lanes = np.empty(4, np.float32)
    for j in range(4):
        lanes[j] = np.float32(x + j * x_scale)
    step = np.float32(4 * x_scale)
    n_simd = 0
    while n_simd + 4 <= OW:
        for j in range(4):
            lanes[j] = lanes[j] + step
        if int(lanes[3]) + 1 >= W:
            break
        for j in range(4):
            left[n_simd + j] = int(lanes[j])
            frac32[n_simd + j] = lanes[j] - np.float32(left[n_simd + j])
        n_simd += 4
    x = -x_scale + n_simd * x_scale
    for c in range(n_simd, OW):
        x += x_scale
        left[c] = math.floor(x)
        frac64[c] = x - left[c]
    one = np.float32(1)
    fraction = frac32[:n_simd]
    inverse = one - fraction
    weights = np.empty((4, n_simd), np.float32)
    rows, out_rows = src.reshape(H, W * C), out.reshape(OH, OW * C)
    y = -y_scale
    for r in range(OH):
        y += y_scale
        top = math.floor(y)
        bottom = min(top + 1, H - 1)
        tb = y - top
        tbf, itbf = np.float32(tb), np.float32(1 - tb)
        for c in range(n_simd):
            weights[0, c], weights[1, c] = itbf * inverse[c], itbf * fraction[c]
            weights[2, c], weights[3, c] = tbf * inverse[c], tbf * fraction[c]
        if rgb:
            _blend_rgb(rows[top], rows[bottom], left, weights, out_rows[r])
        else:
            _blend(rows[top], rows[bottom], left, weights, out_rows[r], C, grey_bytes)
        for c in range(n_simd, OW):
            lo = left[c]
            ro = min(lo + 1, W - 1)
            for k in range(C):
                if rgb:
                    lr = frac64[c]
                    value = ((1 - tb) * ((1 - lr) * np.float64(src[top, lo, k]) + lr * np.float64(src[top, ro, k]))
                             + tb * ((1 - lr) * np.float64(src[bottom, lo, k]) + lr * np.float64(src[bottom, ro, k])))
                    out[r, c, k] = np.int64(value)
                else:
                    lr32 = np.float32(frac64[c])
                    upper = (one - lr32) * np.float32(src[top, lo, k]) + lr32 * np.float32(src[top, ro, k])
                    lower = (one - lr32) * np.float32(src[bottom, lo, k]) + lr32 * np.float32(src[bottom, ro, k])
                    value32 = np.float32((1 - tb) * upper + tb * lower)
                    if grey_bytes:
                        out[r, c, k] = np.int64(min(max(value32, np.float32(0)), np.float32(255)))
                    else:
                        out[r, c, k] = value32


@njit(cache=True, nogil=True)
def _row_gradients(img, y, start, stop, simd, gx, gy, length):
    """Gradients of pixels ``start .. stop - 1`` of row ``y``: the strongest channel's, with dlib's tie rules.

    dlib's 8-wide SIMD loop (``simd``) keeps red only if strictly above green and that
    only if strictly above blue (the later channel wins ties); its scalar loop switches
    to a later channel only if strictly above. The two rules are separate loops here, so
    that each runs without branches.
    """
    up, row, down = img[y - 1], img[y], img[y + 1]
    if img.shape[2] == 1:
        for x in range(start, stop):
            rx = np.int32(row[x + 1, 0]) - np.int32(row[x - 1, 0])
            ry = np.int32(down[x, 0]) - np.int32(up[x, 0])
            gx[x], gy[x], length[x] = rx, ry, rx * rx + ry * ry
        return
    for x in range(start, stop):
        rx = np.int32(row[x + 1, 0]) - np.int32(row[x - 1, 0])
        ry = np.int32(down[x, 0]) - np.int32(up[x, 0])
        grx = np.int32(row[x + 1, 1]) - np.int32(row[x - 1, 1])
        gry = np.int32(down[x, 1]) - np.int32(up[x, 1])
        brx = np.int32(row[x + 1, 2]) - np.int32(row[x - 1, 2])
        bry = np.int32(down[x, 2]) - np.int32(up[x, 2])
        rl, gl, bl = rx * rx + ry * ry, grx * grx + gry * gry, brx * brx + bry * bry
        if simd:
            red = rl > gl
            tx, ty, tl = (rx if red else grx), (ry if red else gry), (rl if red else gl)
            keep = tl > bl
        else:
            green = gl > rl
            tx, ty, tl = (grx if green else rx), (gry if green else ry), (gl if green else rl)
            keep = not bl > tl
        gx[x] = tx if keep else brx
        gy[x] = ty if keep else bry
        length[x] = tl if keep else bl


@njit(cache=True, nogil=True)
def _orientations(gx, gy, stop, directions, orientation):
    """For pixels 1 .. stop - 1: the first of the 18 directions with the largest dot product (dlib's rule)."""
    d = directions
    for x in range(1, stop):
        fx, fy = np.float32(gx[x]), np.float32(gy[x])
        best, index = np.float32(0), np.int32(0)
        # A constant 9-step loop of selects: unrolled, so the loop over x vectorises.
        for o in range(9):
            dot = fx * d[o, 0] + fy * d[o, 1]
            positive = dot > best
            best = dot if positive else best
            index = np.int32(o) if positive else index
            negative = -dot > best
            best = -dot if negative else best
            index = np.int32(o + 9) if negative else index
        orientation[x] = index


@njit(cache=True, nogil=True)
def _add_to_histograms(start, stop, simd, length, orientation, ixp, vx0, vx1, vy0, vy1, top, bottom):
    """Spread the magnitudes of pixels ``start .. stop - 1`` of a row over the 4 nearest cells' bins."""
    for x in range(start, stop):
        v = np.sqrt(np.float32(length[x]))
        if simd:
            # dlib's SIMD loop scales the x fractions by the magnitude first.
            wx1, wx0 = vx1[x] * v, vx0[x] * v
            w11, w01, w10, w00 = vy1 * wx1, vy0 * wx1, vy1 * wx0, vy0 * wx0
        else:
            w11, w01 = vy1 * vx1[x] * v, vy0 * vx1[x] * v
            w10, w00 = vy1 * vx0[x] * v, vy0 * vx0[x] * v
        c, o = ixp[x], orientation[x]
        top[c + 1, o] += w11
        bottom[c + 1, o] += w01
        top[c + 2, o] += w10
        bottom[c + 2, o] += w00


@njit(cache=True, nogil=True)
def fhog(img, cell_size, rows_padding, cols_padding, directions):
    """dlib's ``impl_extract_fhog_features`` (cell_size > 1) on (H, W, C) uint8: (31, rows, cols) planes."""
    H, W = img.shape[0], img.shape[1]
    cells_nr = int(np.float32(H) / np.float32(cell_size) + 0.5)
    cells_nc = int(np.float32(W) / np.float32(cell_size) + 0.5)
    hog_nr, hog_nc = max(cells_nr - 2, 0), max(cells_nc - 2, 0)
    if hog_nr == 0 or hog_nc == 0:
        return np.zeros((31, 0, 0), np.float32)
    out = np.zeros((31, hog_nr + rows_padding - 1, hog_nc + cols_padding - 1), np.float32)
    hist = np.zeros((cells_nr + 2, cells_nc + 2, 18), np.float32)
    visible_nr = min(cells_nr * cell_size, H) - 1
    visible_nc = min(cells_nc * cell_size, W) - 1
    simd_end = 1 + 8 * max(0, (visible_nc - 1) // 8)
    one = np.float32(1)
    # Per column: the cell to the left, the bilinear fractions (the same for every row).
    ixp = np.empty(visible_nc, np.int64)
    vx0, vx1 = np.empty(visible_nc, np.float32), np.empty(visible_nc, np.float32)
    for x in range(1, visible_nc):
        xp = np.float32((x + 0.5) / cell_size - 0.5)
        ixp[x] = math.floor(xp)
        vx0[x] = xp - np.float32(ixp[x])
        vx1[x] = one - vx0[x]
    gx, gy = np.zeros(visible_nc, np.int32), np.zeros(visible_nc, np.int32)
    length = np.zeros(visible_nc, np.int32)
    orientation = np.zeros(visible_nc, np.int32)
    for y in range(1, visible_nr):
        _row_gradients(img, y, 1, simd_end, True, gx, gy, length)
        _row_gradients(img, y, simd_end, visible_nc, False, gx, gy, length)
        _orientations(gx, gy, visible_nc, directions, orientation)
        yp = np.float32((y + 0.5) / cell_size - 0.5)
        iyp = math.floor(yp)
        vy0 = yp - np.float32(iyp)
        vy1 = one - vy0
        top, bottom = hist[iyp + 1], hist[iyp + 2]
        _add_to_histograms(1, simd_end, True, length, orientation, ixp, vx0, vx1, vy0, vy1, top, bottom)
        _add_to_histograms(simd_end, visible_nc, False, length, orientation, ixp, vx0, vx1, vy0, vy1, top, bottom)
    norm = np.zeros((cells_nr, cells_nc), np.float32)
    for r in range(cells_nr):
        for c in range(cells_nc):
            for o in range(9):
                s = hist[r + 1, c + 1, o] + hist[r + 1, c + 1, o + 9]
                norm[r, c] += s * s
    eps = np.float32(0.0001)
    clip, scale = np.empty(4, np.float32), np.empty(4, np.float32)
    top, left = (rows_padding - 1) // 2, (cols_padding - 1) // 2
    for y in range(hog_nr):
        for x in range(hog_nc):
            # The four 2x2 blocks of cells holding this cell, summed in dlib's lane order.
            clip[0] = ((norm[y + 1, x + 1] + norm[y + 1, x + 2]) + norm[y + 2, x + 1]) + norm[y + 2, x + 2]
            clip[1] = ((norm[y, x + 1] + norm[y, x + 2]) + norm[y + 1, x + 1]) + norm[y + 1, x + 2]
            clip[2] = ((norm[y + 1, x] + norm[y + 1, x + 1]) + norm[y + 2, x]) + norm[y + 2, x + 1]
            clip[3] = ((norm[y, x] + norm[y, x + 1]) + norm[y + 1, x]) + norm[y + 1, x + 1]
            for k in range(4):
                clip[k] = np.float32(0.2) * np.sqrt(clip[k] + eps)
                scale[k] = np.float32(0.1) / clip[k]
            t0, t1, t2, t3 = np.float32(0), np.float32(0), np.float32(0), np.float32(0)
            for o in range(0, 18, 3):
                # dlib adds each group of three orientations to the texture lanes as (h0 + h1) + h2.
                g0, g1, g2, g3 = np.float32(0), np.float32(0), np.float32(0), np.float32(0)
                for i in range(o, o + 3):
                    h = hist[y + 2, x + 2, i]
                    a, b = min(h, clip[0]) * scale[0], min(h, clip[1]) * scale[1]
                    c, d = min(h, clip[2]) * scale[2], min(h, clip[3]) * scale[3]
                    out[i, y + top, x + left] = (a + b) + (c + d)
                    g0, g1, g2, g3 = g0 + a, g1 + b, g2 + c, g3 + d
                t0, t1, t2, t3 = t0 + g0, t1 + g1, t2 + g2, t3 + g3
            for o in range(9):
                h = hist[y + 2, x + 2, o] + hist[y + 2, x + 2, o + 9]
                a, b = min(h, clip[0]) * scale[0], min(h, clip[1]) * scale[1]
                c, d = min(h, clip[2]) * scale[2], min(h, clip[3]) * scale[3]
                out[18 + o, y + top, x + left] = (a + b) + (c + d)
            energy = np.float32(2 * 0.2357)
            out[27, y + top, x + left] = t0 * energy
            out[28, y + top, x + left] = t1 * energy
            out[29, y + top, x + left] = t2 * energy
            out[30, y + top, x + left] = t3 * energy
    return out



@njit(cache=True, nogil=True, inline="always")
def _filter_rows10(source, taps, out):
    """``out[c] = sum_n source[c + n] * taps[n]`` for a 10-tap filter, the taps held in registers."""
    t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 = taps
    for c in range(len(out)):
        out[c] = ((((((((source[c] * t0 + source[c + 1] * t1) + source[c + 2] * t2) + source[c + 3] * t3)
                       + source[c + 4] * t4) + source[c + 5] * t5) + source[c + 6] * t6) + source[c + 7] * t7)
                  + source[c + 8] * t8) + source[c + 9] * t9


@njit(cache=True, nogil=True, inline="always")
def _filter_columns10(ring, first, taps, out):
    """``out[c] += sum_m ring[(first + m) % 10][c] * taps[m]`` for a 10-tap filter over a ring of 10 rows."""
    t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 = taps
    r0, r1, r2, r3, r4 = ring[first % 10], ring[(first + 1) % 10], ring[(first + 2) % 10], ring[(first + 3) % 10], \
        ring[(first + 4) % 10]
    r5, r6, r7, r8, r9 = ring[(first + 5) % 10], ring[(first + 6) % 10], ring[(first + 7) % 10], \
        ring[(first + 8) % 10], ring[(first + 9) % 10]
    for c in range(len(out)):
        out[c] += ((((((((r0[c] * t0 + r1[c] * t1) + r2[c] * t2) + r3[c] * t3) + r4[c] * t4) + r5[c] * t5)
                     + r6[c] * t6) + r7[c] * t7) + r8[c] * t8) + r9[c] * t9


@njit(cache=True, nogil=True)
def separable_scores(planes, plane_of, detector_of, row_filters, col_filters, out):
    """Sum rank-1 filters over feature planes, as dlib's ``float_spatially_filter_image_separable``.

    ``planes`` (C, Hp, Wp) float32; filter k is ``col_filters[k] (KR,)`` down times
    ``row_filters[k] (KC,)`` across, applied to plane ``plane_of[k]`` and added to
    ``out[detector_of[k]]`` (D, Hp - KR + 1, Wp - KC + 1): window positions where the
    filter lies inside the planes.
    """
    OH, OW = out.shape[1], out.shape[2]
    KR, KC = col_filters.shape[1], row_filters.shape[1]
    # The row-filtered rows a window row needs, kept in a ring of KR rows (it stays in the L1 cache).
    ring = np.empty((KR, OW), np.float32)
    ten = KR == 10 and KC == 10
    for k in range(len(plane_of)):
        plane, target = planes[plane_of[k]], out[detector_of[k]]
        for r in range(OH + KR - 1):
            slot = ring[r % KR]
            if ten:
                # dlib's face detector: 10x10 filters, the taps in registers.
                _filter_rows10(plane[r], row_filters[k], slot)
            else:
                slot[:] = 0
                for n in range(KC):
                    w = row_filters[k, n]
                    for c in range(OW):
                        slot[c] += plane[r, c + n] * w
            i = r - KR + 1
            if i < 0:
                continue
            if ten:
                _filter_columns10(ring, i, col_filters[k], target[i])
            else:
                for m in range(KR):
                    w, filtered = col_filters[k, m], ring[(i + m) % KR]
                    for c in range(OW):
                        target[i, c] += filtered[c] * w
