"""A CloudTrail (Lake) stand-in at botocore's HTTP boundary, with botocore.stub.Stubber's API.

Stubber answers at ``before-call``, above botocore's endpoint, so nothing it returns ever
reaches the retry hook. This one answers at ``before-send``, below it: each queued answer
is an HTTP response in CloudTrail's JSON protocol (an error is ``{"__type": code}`` with its
status), which botocore parses, and whose error goes through the client's ``needs-retry``
handler exactly as one from AWS would. Every request is checked against the queue: its
operation (``X-Amz-Target``) and, when given, its JSON parameters (``botocore.stub.ANY``
matches anything); an unexpected request fails the call.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.stub import StubAssertionError, StubResponseError, UnStubbedResponseError
from botocore.validate import validate_parameters


@dataclass
class _Answer:
    operation: str
    status: int
    body: dict
    expected_params: dict | None
    connection_error: bool = False


class _Body:
    """The ``raw`` of an AWSResponse: a stream of the body's bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs):
        yield self._data


def _json_default(value):
    if isinstance(value, datetime):
        return value.timestamp()  # the JSON protocol's timestamps are epoch seconds
    raise TypeError(f"{value!r} is not JSON")


class LakeWire:
    """Queue answers with ``add_response`` / ``add_client_error`` (Stubber's signatures) and
    ``add_connection_error``; use as a context manager; ``requests`` lists what was sent."""

    def __init__(self, client) -> None:
        self.client = client
        self._event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
        self._queue: deque[_Answer] = deque()
        self.requests: list[tuple[str, dict]] = []

    # -- Stubber's API -------------------------------------------------------------------
    def add_response(self, method: str, service_response: dict, expected_params=None) -> None:
        operation = self._operation(method)
        output_shape = self.client.meta.service_model.operation_model(operation).output_shape
        if output_shape is not None:  # as Stubber does: a typo in a test's answer fails
            validate_parameters(service_response, output_shape)
        self._queue.append(_Answer(operation, 200, service_response, expected_params))

    def add_client_error(
        self,
        method: str,
        service_error_code: str = "",
        service_message: str = "",
        http_status_code: int = 400,
        expected_params=None,
    ) -> None:
        body = {"__type": service_error_code, "message": service_message}
        self._queue.append(
            _Answer(self._operation(method), http_status_code, body, expected_params)
        )

    def add_connection_error(self, method: str) -> None:
        """The request never gets an answer (connection refused, reset, DNS failure)."""
        self._queue.append(_Answer(self._operation(method), 0, {}, None, connection_error=True))

    def assert_no_pending_responses(self) -> None:
        if self._queue:
            left = ", ".join(answer.operation for answer in self._queue)
            raise AssertionError(f"{len(self._queue)} queued answer(s) not used: {left}")

    def activate(self) -> None:
        self.client.meta.events.register_first(self._event, self._answer, unique_id=id(self))

    def deactivate(self) -> None:
        self.client.meta.events.unregister(self._event, unique_id=id(self))

    def __enter__(self) -> LakeWire:
        self.activate()
        return self

    def __exit__(self, *_exc) -> None:
        self.deactivate()

    # -- the wire ------------------------------------------------------------------------
    def _operation(self, method: str) -> str:
        return self.client.meta.method_to_api_mapping[method]

    def _answer(self, request, **_kwargs) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        params = json.loads(request.body or b"{}")
        self.requests.append((operation, params))
        if not self._queue:
            raise UnStubbedResponseError(
                operation_name=operation, reason="no answer queued for this request"
            )
        answer = self._queue.popleft()
        if answer.operation != operation:
            raise StubResponseError(
                operation_name=operation, reason=f"expected a {answer.operation} request"
            )
        if answer.expected_params is not None and params != answer.expected_params:
            raise StubAssertionError(
                operation_name=operation,
                reason=f"expected parameters {answer.expected_params!r}, got {params!r}",
            )
        if answer.connection_error:
            raise EndpointConnectionError(endpoint_url=request.url)
        body = json.dumps(answer.body, default=_json_default).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "x-amzn-RequestId": f"wire-{len(self.requests)}",
            "Content-Length": str(len(body)),
        }
        return AWSResponse(request.url, answer.status, headers, _Body(body))
