"""Activations (placeholder: being written)."""


def relu(x): raise NotImplementedError
def leaky_relu(x, negative_slope=0.01): raise NotImplementedError
def sigmoid(x): raise NotImplementedError
def tanh(x): raise NotImplementedError
def softmax(x, axis=-1): raise NotImplementedError
def log_softmax(x, axis=-1): raise NotImplementedError
def dropout(x, p=0.5, training=True, rng=None): raise NotImplementedError
