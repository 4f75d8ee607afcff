"""``@modelsync.track``: every call of a training function becomes a run.

::

    @modelsync.track
    def train(lr: float = 0.1, epochs: int = 10) -> dict[str, float]:
        ...
        modelsync.log({"loss": loss})
        return {"accuracy": acc}          # a dict of numbers: the run's final metrics

The call's arguments, defaults included, are the run's params (``params=[...]`` keeps only
those, ``exclude=[...]`` drops those; ``self`` and ``cls`` are never params). The return value
and any exception pass through unchanged; an exception marks the run failed. A tracked call
inside another is a child run. With ``strict=False`` (the default) a tracking failure — even a
missing or read-only repository — is a ``TrackingWarning`` and the function runs regardless.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast, overload

from ..errors import TRACKING_ERRORS, TrackingWarning, UsageError
from .active import restore_tracking, suppressed_tracking
from .names import check_run_name
from .read import RepoLike
from .run import Run
from .start import start_run

P = ParamSpec("P")
R = TypeVar("R")

_IMPLICIT = ("self", "cls")


@dataclass(frozen=True)
class _Options:
    name: str | None
    repo: RepoLike
    params: tuple[str, ...] | None
    exclude: tuple[str, ...]
    tags: tuple[str, ...]
    strict: bool
    capture_exclude: tuple[str, ...]


@overload
def track(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def track(
    func: None = None,
    /,
    *,
    name: str | None = None,
    repo: RepoLike = None,
    params: Collection[str] | None = None,
    exclude: Collection[str] = (),
    tags: Collection[str] = (),
    strict: bool = False,
    capture_exclude: Collection[str] = (),
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def track(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    repo: RepoLike = None,
    params: Collection[str] | None = None,
    exclude: Collection[str] = (),
    tags: Collection[str] = (),
    strict: bool = False,
    capture_exclude: Collection[str] = (),
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Track each call of a function (plain or ``async``) as a run; bare or with options.

    ``name`` names the runs (``name``, then ``name-2``, ...; default: generated).
    """
    if name is not None:
        check_run_name(name)
    options = _Options(
        name=name,
        repo=repo,
        params=None if params is None else tuple(params),
        exclude=tuple(exclude),
        tags=tuple(tags),
        strict=strict,
        capture_exclude=tuple(capture_exclude),
    )
    if func is None:
        return lambda f: _decorate(f, options)
    return _decorate(func, options)


def _decorate(func: Callable[P, R], options: _Options) -> Callable[P, R]:
    signature = inspect.signature(func)
    _check_param_names(func, signature, options)
    tracked = _Tracked(func, signature, options)
    if inspect.iscoroutinefunction(func):
        async_func = cast(Callable[..., Awaitable[Any]], func)

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracked.start(args, kwargs)
            if run is None:
                token = suppressed_tracking()
                try:
                    return await async_func(*args, **kwargs)
                finally:
                    restore_tracking(token)
            with run:
                result = await async_func(*args, **kwargs)
                _record_result(run, result)
            return result

        return cast(Callable[P, R], async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        run = tracked.start(args, kwargs)
        if run is None:
            token = suppressed_tracking()
            try:
                return func(*args, **kwargs)
            finally:
                restore_tracking(token)
        with run:
            result = func(*args, **kwargs)
            _record_result(run, result)
        return result

    return wrapper


def _check_param_names(
    func: Callable[..., Any], signature: inspect.Signature, options: _Options
) -> None:
    known = set(signature.parameters)
    for what, names in (("params", options.params or ()), ("exclude", options.exclude)):
        unknown = sorted(set(names) - known)
        if unknown:
            raise UsageError(
                f"@track({what}=...) names {', '.join(unknown)}, which "
                f"{func.__qualname__}() does not take"
            )


class _Tracked:
    """What a decorated function needs at each call: its signature and the run options."""

    def __init__(self, func: Callable[..., Any], signature: inspect.Signature, options: _Options):
        self.signature = signature
        self.options = options
        self.entrypoint = f"{func.__module__}.{func.__qualname__}"
        source = inspect.getsourcefile(func)
        self.code_dir = Path(source).resolve().parent if source else None
        first = next(iter(signature.parameters), None)
        self.implicit = first if first in _IMPLICIT else None

    def params_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The call's arguments, defaults included; None when they do not bind."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:
            return None
        bound.apply_defaults()
        chosen: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                chosen.update(value)
            else:
                chosen[name] = list(value) if kind is inspect.Parameter.VAR_POSITIONAL else value
        wanted = self.options.params
        return {
            name: value
            for name, value in chosen.items()
            if name != self.implicit
            and name not in self.options.exclude
            and (wanted is None or name in wanted)
        }

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run | None:
        """A started run, or None: the call does not bind (the function will say why), or
        tracking failed and ``strict`` is off (after a warning)."""
        params = self.params_of(args, kwargs)
        if params is None:
            return None
        options = self.options
        try:
            return start_run(
                name=options.name,
                repo=options.repo,
                params=params,
                tags=options.tags,
                strict=options.strict,
                capture_exclude=options.capture_exclude,
                code_dir=self.code_dir,
                entrypoint=self.entrypoint,
                unique_name=True,
            )
        except TRACKING_ERRORS as exc:
            if options.strict:
                raise
            warnings.warn(
                f"{self.entrypoint}: this call is not tracked: {exc}", TrackingWarning, stacklevel=4
            )
            return None


def _record_result(run: Run, result: object) -> None:
    """A returned dict becomes the run's final metrics, at its last step: its numbers are
    logged, and each other value is reported by key, as ``modelsync.log`` reports it."""
    if not isinstance(result, Mapping) or not result:
        return
    run.log_metrics(result, step=run.step if run.step is not None else 0)
