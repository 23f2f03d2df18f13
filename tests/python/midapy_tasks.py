"""Decorated functions of an importable module, for the tests of pickling
@mida.task functions (test_mida_pickle.py)."""

import mida


@mida.task
def square(x):
    """The square of x."""
    return x * x


def plus_one_squared(x):
    """A plain function that calls a decorated one."""
    return square(x) + 1


class Shapes:
    @mida.task
    def area(self, w, h):
        return w * h
