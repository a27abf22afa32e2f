"""What the ``sfn`` verbs share: reading inputs and the project file, reaching the Redis
that holds the executions, and reporting API errors the way the AWS CLI does.

Which Redis (``deployment``): ``REDIS_URL`` when it is set (with ``SFN_PREFIX``, as the
workers use them), so every verb works from any machine that reaches the deployment's
Redis; otherwise the embedded Redis of ``sfn run`` in ``.sfn/`` next to the project file
(or in the working directory): joined if an ``sfn run`` is using it, else started for the
command and shut down after it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

DEFAULT_PROJECT = "sfn.yaml"
#: Exit status of a refused API call (and of an execution that did not succeed).
EXIT_REFUSED = 1


def read_text(path: str, param: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read '{path}': {exc.strerror or exc}", param_hint=param
        ) from None
    except UnicodeDecodeError:
        raise click.BadParameter(f"'{path}' is not UTF-8 text", param_hint=param) from None


def parse_input(value: str | None) -> Any:
    if value is None:
        return {}
    text = read_text(value[1:], "'--input'") if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="'--input'") from None


def project_path(config: str | None) -> str | None:
    return config or (DEFAULT_PROJECT if Path(DEFAULT_PROJECT).exists() else None)


def load_project_file(config: str | None) -> Any:
    from workers.registry import ProjectError, load_project

    path = project_path(config)
    if path is None:
        return None
    try:
        return load_project(path)
    except ProjectError as exc:
        raise click.BadParameter(str(exc), param_hint="'--config'") from None


config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Project file (default: ./sfn.yaml if present); its folder holds the embedded "
    "Redis's .sfn/ when REDIS_URL is unset.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the AWS API's response shape as JSON."
)


class Unreachable(click.ClickException):
    exit_code = 2  # nothing ran: like a project that cannot be loaded


def refused(error: Any, operation: str) -> NoReturn:
    """Report an ApiError as the AWS CLI does, on stderr, and exit 1."""
    click.echo(
        f"An error occurred ({error.code}) when calling the {operation} operation: {error.message}",
        err=True,
    )
    sys.exit(EXIT_REFUSED)


@contextmanager
def api_call(operation: str) -> Iterator[None]:
    """Turn an ApiError raised in the block into the AWS CLI's message and exit 1."""
    from statemachine.runtime.api_errors import ApiError

    try:
        yield
    except ApiError as error:
        refused(error, operation)


class Deployment:
    """The executions' Redis: ``store`` to read them, ``runtime()`` to change them."""

    def __init__(
        self, store: Any, make_runtime: Callable[[], Any], where: str, *, idle: bool = False
    ) -> None:
        self.store = store
        self.where = where
        #: True for an embedded Redis that no ``sfn run`` uses: nothing runs executions.
        self.idle = idle
        self._make_runtime = make_runtime
        self._runtime: Any = None

    def runtime(self) -> Any:
        if self._runtime is None:
            self._runtime = self._make_runtime()
        return self._runtime

    def close(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            app = runtime.dispatcher.app
            runtime.store.redis.close()
            app.pool.force_close_all()
            app.close()
        self.store.redis.close()


@contextmanager
def deployment(config: str | None) -> Iterator[Deployment]:
    """The deployment at ``REDIS_URL``, or the embedded Redis of this project folder.

    Raises:
        Unreachable: Redis cannot be reached, or there is no ``.sfn/`` to look in.
    """
    import redis

    from statemachine.runtime.embedded import DATA_FOLDER, EmbeddedRedis, EmbeddedRedisUnavailable
    from statemachine.runtime.store import RedisHistoryStore, redis_client
    from workers.celery_app import ConfigurationError

    redis_url = os.environ.get("REDIS_URL")
    where = redis_url or "the embedded Redis"
    try:
        if redis_url:
            store = RedisHistoryStore(
                redis_client(redis_url), prefix=os.environ.get("SFN_PREFIX") or "sfn"
            )
            store.redis.ping()
            with _closing(Deployment(store, lambda: _connect(redis_url, config), where)) as found:
                yield found
            return
        path = project_path(config)
        base = Path(path).resolve().parent if path else Path.cwd()
        folder = base / DATA_FOLDER
        if not folder.is_dir():
            raise Unreachable(
                f"REDIS_URL is not set and {folder} does not exist: nothing has run here "
                "(set REDIS_URL to a deployment's Redis, or run from the project folder)"
            )
        with EmbeddedRedis(folder) as server:
            url = server.url
            store = RedisHistoryStore(redis_client(url, environ={}))  # never a cluster
            with _closing(
                Deployment(store, lambda: _embedded_runtime(url, config), where, idle=server.owned)
            ) as found:
                yield found
    except (redis.RedisError, EmbeddedRedisUnavailable) as exc:
        raise Unreachable(f"cannot reach {where}: {exc}") from None
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None


@contextmanager
def _closing(found: Deployment) -> Iterator[Deployment]:
    try:
        yield found
    finally:
        found.close()


def _connect(redis_url: str, config: str | None) -> Any:
    from workers.cluster import connect

    return connect(redis_url, load_project_file(config))


def _embedded_runtime(url: str, config: str | None) -> Any:
    from statemachine.runtime.engine import Runtime
    from statemachine.runtime.store import RedisHistoryStore, redis_client
    from workers.celery_app import make_app
    from workers.tasks import CeleryDispatcher

    app = make_app(None, url, project_path(config), scheduler=False)
    store = RedisHistoryStore(redis_client(url, environ={}))  # never a cluster
    return Runtime(store, CeleryDispatcher(app, load_project_file(config)))


def execution_id(reference: str) -> str:
    """The id of an execution ARN or ``machine:name``; a usage error otherwise."""
    from statemachine.runtime.api_errors import InvalidArn
    from statemachine.runtime.queries import resolve

    try:
        return resolve(reference)
    except InvalidArn as exc:
        raise click.BadParameter(
            f"{exc.message}: give an execution ARN or MACHINE:NAME", param_hint="'EXECUTION'"
        ) from None
