"""Errors of the model layer. Every message is one line a user can act on."""

from __future__ import annotations


class ModelError(Exception):
    """Base class: something about a model went wrong; ``str(exc)`` is a one-line explanation."""


class ModelLoadError(ModelError):
    """The file cannot be used as a model (missing, not GGUF, truncated, unsupported, too long)."""


class ModelNotLoaded(ModelError):
    """A request needs a model but none is loaded."""


class RunnerCrashed(ModelError):
    """The runner process died while serving a request; a fresh runner has been started."""


class GenerationCancelled(ModelError):
    """The request was cancelled before it finished."""


class RemoteError(ModelError):
    """An OpenAI-compatible server could not be reached or answered with an error."""
