"""argparse types that check a flag's value, so a bad value is reported with the flag's own name (exit 2)."""
import argparse
import math

__all__ = ["at_least", "positive", "fraction", "multiple_of"]


def _number(text, kind):
    """``kind(text)``, finite, or ArgumentTypeError."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def at_least(minimum, kind=int):
    """A type accepting numbers of ``kind`` (int or float) from ``minimum`` on."""
    def parse(text):
        value = _number(text, kind)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value
    return parse


def positive(text):
    """A type accepting floats above zero."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def fraction(text):
    """A type accepting floats in [0, 1]."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def multiple_of(step):
    """A type accepting positive integer multiples of ``step``."""
    def parse(text):
        value = _number(text, int)
        if value <= 0 or value % step:
            raise argparse.ArgumentTypeError(f"must be a positive multiple of {step}, got {text}")
        return value
    return parse
