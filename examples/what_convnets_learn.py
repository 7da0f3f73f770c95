"""What are deep ConvNets learning? The image patches that most activate units of VGG-16 (Zeiler and Fergus).

For units of conv1_1, conv3_1 and conv5_1 of the pretrained VGG-16 (vgg16-hed
weights), the 9 crops out of a few hundred that excite each unit most, each
cut to the unit's receptive field (computed from the layer stack: 3, 24 and
132 pixels). The course's progression shows: edges and colours in conv1_1,
textures and simple shapes in conv3_1, object parts in conv5_1.

Run: python examples/what_convnets_learn.py   (writes examples/what_convnets_learn.png; 55 s of CPU time)
"""
import os
import time

import numpy as np
from PIL import Image, ImageDraw

from cnnkit.data.images import resize, to_uint8
from cnnkit.models.vgg_features import vgg16_features
from cnnkit.viz.activations import layer_activations, patch_grid, receptive_fields, top_k_patches
from cnnkit.viz.images import random_crops, sample_photos

LAYERS = ("conv1_1", "conv3_1", "conv5_1")
UNITS = 6        # units shown per layer
CROPS = 300
CROP_SIZE = 112
PATCH = 36       # pixels per patch in the picture
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "what_convnets_learn.png")


def main():
    model = vgg16_features("vgg16-hed")
    fields = receptive_fields(model)
    photos = sample_photos()
    crops, origins = random_crops(list(photos.values()), CROPS, CROP_SIZE, scale=(1, 3), seed=0, return_origins=True)
    print(f"{CROPS} crops of {CROP_SIZE}x{CROP_SIZE} from {', '.join(photos)}")
    rows = []
    for layer in LAYERS:
        field = fields[layer]
        start = time.perf_counter()
        acts = layer_activations(model, layer)
        # the units whose strongest responses are largest: the most selective-looking ones
        _, strength = top_k_patches(acts, crops[:64], field, k=1, origins=origins[:64])
        units = np.argsort(-strength[:, 0])[:UNITS]
        # origins: overlapping crops of one photo never give a unit the same patch twice
        patches, values = top_k_patches(acts, crops, field, k=9, units=units, origins=origins)
        S = patches.shape[2]
        # whole pixels for small fields (conv1_1's 3x3), filtered resizing otherwise
        small = np.array([[p.repeat(PATCH // S, 0).repeat(PATCH // S, 1) if PATCH % S == 0 else
                           resize(p, PATCH) for p in unit] for unit in patches])
        rows.append((layer, field, patch_grid(small)))
        print(f"{layer}: receptive field {field.size} px, stride {field.stride}; units {units.tolist()}, "
              f"top activations {np.round(values[:, 0], 1).tolist()} ({time.perf_counter() - start:.1f} s)")
    width = max(grid.shape[1] for _, _, grid in rows)
    label_h = 16
    canvas = Image.new("RGB", (width, sum(grid.shape[0] + label_h for _, _, grid in rows)), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for layer, field, grid in rows:
        caption = f"{layer}: top 9 patches of {UNITS} units (receptive field {field.size} px)"
        draw.text((6, y + 2), caption, fill="black")
        canvas.paste(Image.fromarray(to_uint8(grid)), (0, y + label_h))
        y += grid.shape[0] + label_h
    canvas.save(OUT, optimize=True)
    print(f"wrote {OUT} ({os.path.getsize(OUT) // 1024} KB)")


if __name__ == "__main__":
    main()
