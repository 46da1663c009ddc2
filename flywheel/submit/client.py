"""The Ray Jobs API of one cluster, with bounded waits and one-line errors.

A thin layer over ``ray.job_submission.JobSubmissionClient``: it sends our token itself
(Ray's client adds one only when ``RAY_AUTH_MODE=token`` is set in *this* process), gives
every HTTP request a connect and a read timeout (Ray's give none, so a black-holed
address would hang for minutes), and turns what goes wrong into a ``FlywheelError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import requests
from ray.exceptions import AuthenticationError
from ray.job_submission import JobDetails, JobStatus, JobSubmissionClient

from flywheel.errors import NotFoundError
from flywheel.submit.errors import JobsApiError, JobsAuthError, JobsUnreachableError
from flywheel.submit.target import JobsTarget

# How long a finished log stream may run ahead of the job's final status (seconds).
STATUS_SETTLE_S = 30.0
# Right after a head starts, its dashboard answers a submit with "No available agent to
# submit job" until the job agent registers (a few seconds). Retried this many times,
# waiting 0.5 s, 1 s, 2 s, 2 s, ... in between (about 15 s in all), then reported.
NO_AGENT = "No available agent to submit job"
SUBMIT_ATTEMPTS = 9


class _BoundedClient(JobSubmissionClient):
    """Ray's client with a timeout on every request it makes."""

    def __init__(self, target: JobsTarget) -> None:
        # Set before super().__init__, which already makes requests.
        self._timeouts = (target.connect_timeout_s, target.read_timeout_s)
        super().__init__(target.address, headers=target.headers())

    def _do_request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeouts)
        return super()._do_request(method, endpoint, **kwargs)


class JobsClient:
    """Submit, list, follow and stop jobs on the cluster that ``target`` names.

    Connecting checks the address and the token at once, so a cluster that is down or
    a wrong token fails here, in seconds, with one line.
    """

    def __init__(self, target: JobsTarget) -> None:
        self.target = target
        _check_version(target)
        # Ray's client lets RAY_ADDRESS / RAY_API_SERVER_ADDRESS override the address it
        # is given; ours is already resolved from them, so hide them while it is built.
        with _without_env("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"), self._translate():
            self._client = _BoundedClient(target)

    def submit(self, entrypoint: str, runtime_env: dict[str, Any], metadata: dict[str, str]) -> str:
        """Upload the working dir (if Ray does not hold it yet) and start the job. The
        head's transient "no available agent" is retried briefly (``SUBMIT_ATTEMPTS``)."""
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                with self._translate():
                    return self._client.submit_job(
                        entrypoint=entrypoint, runtime_env=runtime_env, metadata=metadata
                    )
            except JobsApiError as err:
                if NO_AGENT not in str(err) or attempt == SUBMIT_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.5 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    def list_jobs(self) -> list[JobDetails]:
        """Every job the cluster remembers, oldest first."""
        with self._translate():
            jobs = self._client.list_jobs()
        return sorted(jobs, key=lambda j: j.start_time or 0)

    def info(self, job_id: str) -> JobDetails:
        with self._translate(job_id):
            return self._client.get_job_info(job_id)

    def logs(self, job_id: str) -> str:
        with self._translate(job_id):
            return self._client.get_job_logs(job_id)

    def stop(self, job_id: str) -> bool:
        """Ask the job to stop; False when it had already ended."""
        with self._translate(job_id):
            return self._client.stop_job(job_id)

    def follow(self, job_id: str, out: Callable[[str], None]) -> JobDetails:
        """Send the job's log to ``out`` as it is written, until the job ends; its details."""
        self.info(job_id)  # an unknown id is NotFoundError, not a broken stream

        async def tail() -> None:
            async for chunk in self._client.tail_job_logs(job_id):
                out(chunk)

        try:
            with warnings.catch_warnings():
                # Ray's own websocket call passes aiohttp a deprecated ssl=None.
                warnings.filterwarnings("ignore", "ssl=None is deprecated", DeprecationWarning)
                asyncio.run(tail())
        except (RuntimeError, OSError, aiohttp.ClientError) as err:  # TimeoutError is an OSError
            raise JobsUnreachableError(
                f"lost the log stream of job {job_id} at {self.target.address} "
                f"({_first_line(err)}); it may still be running: flywheel jobs logs {job_id}"
            ) from None
        details = self.wait(job_id)
        if not JobStatus(details.status).is_terminal():
            raise JobsApiError(
                f"the log stream of job {job_id} ended while it is still {details.status}; "
                f"follow it again: flywheel jobs logs --follow {job_id}"
            )
        return details

    def wait(self, job_id: str, settle_s: float = STATUS_SETTLE_S) -> JobDetails:
        """The job's details once its status is final (the log can end a moment before)."""
        deadline = time.monotonic() + settle_s
        while True:
            details = self.info(job_id)
            if JobStatus(details.status).is_terminal() or time.monotonic() > deadline:
                return details
            time.sleep(0.5)

    @contextlib.contextmanager
    def _translate(self, job_id: str | None = None) -> Iterator[None]:
        """Turn what Ray's client and ``requests`` raise into one-line FlywheelErrors."""
        try:
            yield
        except requests.RequestException as err:
            raise _unreachable(self.target, err) from None
        except AuthenticationError as err:
            raise _auth_error(self.target, str(err)) from None
        except ConnectionError as err:  # Ray's own "Failed to connect to Ray at ..."
            raise JobsUnreachableError(f"{_first_line(err)} ({self.target.address})") from None
        except RuntimeError as err:
            message = _first_line(err)
            if job_id is not None and "status code 404" in message:
                raise NotFoundError(
                    f"no job {job_id!r} at {self.target.address} (flywheel jobs list shows them)"
                ) from None
            raise JobsApiError(f"Ray Jobs API at {self.target.address}: {message}") from None


def quiet_ray_sdk_logs() -> None:
    """Keep Ray's client-side chatter (each packaging step, the websocket closing) off a
    CLI's stderr; its warnings stay, except the one about folders we exclude anyway."""
    for name in ("ray", "ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)  # the latter two pin INFO
    notices = logging.getLogger("ray._private.runtime_env.working_dir")
    if not any(isinstance(f, _DefaultExcludeNotice) for f in notices.filters):
        notices.addFilter(_DefaultExcludeNotice())


class _DefaultExcludeNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "is now ignored by default" not in str(record.msg)


def _check_version(target: JobsTarget) -> None:
    """One bounded GET of ``/api/version``: is a Ray dashboard there, and does it take
    our token? Gives the clearest line for each way this fails."""
    try:
        response = requests.get(
            f"{target.address}/api/version",
            headers=target.headers(),
            timeout=(target.connect_timeout_s, target.read_timeout_s),
        )
    except requests.RequestException as err:
        raise _unreachable(target, err) from None
    if response.status_code in (401, 403):
        raise _auth_error(target, response.text, response.status_code)
    if response.status_code != 200:
        raise JobsApiError(
            f"{target.address} answered HTTP {response.status_code} to /api/version, so it is "
            "not a Ray dashboard (give the head's dashboard address, port 8265 by default)"
        )


def _unreachable(target: JobsTarget, err: requests.RequestException) -> JobsUnreachableError:
    where = f"the Ray Jobs API at {target.address}"
    if isinstance(err, requests.ConnectTimeout):
        why = f"no answer within {target.connect_timeout_s:g}s"
    elif isinstance(err, requests.ReadTimeout):
        why = f"connected, but no reply within {target.read_timeout_s:g}s"
    elif isinstance(err, requests.ConnectionError):
        why = "connection refused" if "refused" in str(err).lower() else "cannot connect"
    else:
        why = _first_line(err)
    return JobsUnreachableError(
        f"cannot reach {where} ({why}); is the head running and is this its dashboard address?"
    )


def _auth_error(target: JobsTarget, body: str, status: int | None = None) -> JobsAuthError:
    rejected = status == 403 or "invalid" in body.lower() or "failed" in body.lower()
    if target.token is None:
        what = (
            "wants a token and none was found (--token, RAY_AUTH_TOKEN, "
            "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
        )
    elif rejected:
        what = f"rejected the token from {target.token_source}"
    else:
        what = f"did not accept the token from {target.token_source}"
    return JobsAuthError(
        f"the Ray cluster at {target.address} {what}; "
        "use the head's token (ray get-auth-token on the head prints it)"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextlib.contextmanager
def _without_env(*names: str) -> Iterator[None]:
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
