"""Argument checks shared across the package (one message for one mistake).

A count (a size, a number of samples, steps or examples) is checked, never
coerced: 0, -1, 1.5, True and "3" are refused with a ValueError naming the
argument, where `int(x)` or `int(x or default)` would quietly change them.
"""

import numbers


def int_at_least(value, minimum, name, why=""):
    """`int(value)`, or a ValueError naming `name` when it is not an integer >= `minimum`.

    Accepts Python and NumPy integers and integral floats (3.0); rejects bools,
    strings, fractions, NaN and anything below `minimum`.

    Args:
      value: the argument as given.
      minimum: the smallest valid count.
      name: the argument's name, for the message.
      why: an optional reason for the minimum, e.g. " (moments need two draws)".
    """
    if (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and float(value).is_integer() and value >= minimum):
        return int(value)
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")
    raise ValueError(f"{name} must be {kind}{why}; got {value!r}.")


def positive_int(value, name):
    """`int(value)`, or a ValueError naming `name` when it is not a positive integer."""
    return int_at_least(value, 1, name)


def positive_ints(values, name):
    """A tuple of positive integers (layer widths), or a ValueError naming `name`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive integers; got {values!r}.")
    return tuple(positive_int(v, f"{name}[{i}]") for i, v in enumerate(values))
