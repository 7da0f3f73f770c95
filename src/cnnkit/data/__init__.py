"""Datasets (the AT&T faces ship with the package), the DataLoader, the one image reader, and transforms.

Everything is channels-last: images (N, H, W, C).
"""
from cnnkit.data.att import ATT_FACES_DIR, load_att_faces, split_people
from cnnkit.data.datasets import (DATASETS, Dataset, ImageFolder, load_dataset, load_digits, load_fashion_mnist,
                                  load_image_folder, load_mnist5k)
from cnnkit.data.images import (ImageError, as_float_image, as_uint8_image, list_images, load_image, load_images,
                                resize, to_uint8)
from cnnkit.data.loader import DataLoader
from cnnkit.data.transforms import (ColorShift, Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomRotation,
                                    RandomShear, Resize, bilinear_sample, build_preprocessing)

__all__ = ["Dataset", "ImageFolder", "DATASETS", "load_dataset", "load_digits", "load_mnist5k", "load_fashion_mnist",
           "load_image_folder", "load_att_faces", "split_people", "ATT_FACES_DIR", "ImageError", "load_image",
           "load_images", "list_images", "resize", "as_float_image", "as_uint8_image", "to_uint8", "DataLoader",
           "Compose", "RandomHorizontalFlip", "RandomCrop", "RandomRotation", "RandomShear", "ColorShift", "Normalize",
           "Resize", "bilinear_sample", "build_preprocessing"]
