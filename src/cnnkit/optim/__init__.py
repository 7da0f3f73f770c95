"""Optimizers (SGD, Adam, AdamW, RMSprop) and learning-rate schedulers, with PyTorch's update rules."""
from cnnkit.optim.adam import Adam, AdamW
from cnnkit.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from cnnkit.optim.optimizer import Optimizer
from cnnkit.optim.rmsprop import RMSprop
from cnnkit.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "LRScheduler", "StepLR", "CosineAnnealingLR"]
