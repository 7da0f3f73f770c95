"""Datasets, the DataLoader, and preprocessing/augmentation transforms, all channels-last."""
from cnnkit.data.datasets import (DATASETS, Dataset, ImageFolder, load_dataset, load_digits, load_fashion_mnist,
                                  load_image_folder, load_mnist5k, read_image)
from cnnkit.data.loader import DataLoader
from cnnkit.data.transforms import (ColorShift, Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomRotation,
                                    RandomShear, Resize, bilinear_sample, build_preprocessing)

__all__ = ["Dataset", "ImageFolder", "DATASETS", "load_dataset", "load_digits", "load_mnist5k", "load_fashion_mnist",
           "load_image_folder", "read_image", "DataLoader", "Compose", "RandomHorizontalFlip", "RandomCrop",
           "RandomRotation", "RandomShear", "ColorShift", "Normalize", "Resize", "bilinear_sample",
           "build_preprocessing"]
