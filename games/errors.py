"""Errors for user mistakes: the CLI prints their message as one line, without a traceback."""


class InputError(ValueError):
    """A user-facing input problem (unknown game, bad agent spec, malformed file, ...).

    Subclasses ValueError so library callers can catch it the usual way; the CLI prints
    ``str(error)`` and exits with status 2.
    """
