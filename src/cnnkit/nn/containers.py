"""Sequential: a chain of modules, named "0", "1", ... as in PyTorch."""
from cnnkit.nn.module import Module


class Sequential(Module):
    """Apply modules one after another.

    Parameters
    ----------
    *modules : Module
        Registered as children ``"0"``, ``"1"``, ..., so state-dict keys read
        ``features.0.weight``.

    Examples
    --------
    >>> net = Sequential(Conv2d(1, 6, 5), ReLU(), MaxPool2d(2))
    >>> len(net), net[0]
    (3, Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1)))
    """

    def __init__(self, *modules):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        try:
            return modules[index]
        except (IndexError, TypeError):
            raise IndexError(f"index {index!r} is out of range for a Sequential of {len(modules)} modules") from None

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x
