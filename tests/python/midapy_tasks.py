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


def in_dask(x):
    """A plain function that Dask runs (its task recorded by mida.dask):
    a metric of the current task, a decorated call, and the task's id."""
    mida.metric("in_dask", x, step=x)
    return square(x), mida.current_task()
