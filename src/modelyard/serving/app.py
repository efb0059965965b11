"""The scoring server's ASGI app: ``POST /invocations``, ``POST /feedback``, ``/healthz``,
``/readyz``, ``/metrics``, ``/openapi.json``.

Plain Starlette, no FastAPI: a scoring request is parsed, checked against the signature,
queued for the next micro-batch and answered; nothing else runs per request. Every answer
carries the request's ``X-Request-Id`` (the client's, or a new one); a sampled request is
then handed to the inference log, which queues it without waiting (``inference_log.py``).

Errors map here once, with the REST server's body ``{"error": {"code", "message",
"details"}}``: a body that does not parse is 400, an unsupported content type 415, input
the signature refuses 422 (naming the column), a model still loading 503. A model that
raises one of ``loading.INPUT_ERRORS`` was given values it cannot take (422);
any other exception from the model is a 500, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.config import DEFAULT_MAX_REQUEST_BYTES
from modelyard.core.body_limit import BodyLimit
from modelyard.errors import (
    BackendUnavailable,
    InvalidInput,
    ModelyardError,
    NotFound,
    UnprocessableInput,
)
from modelyard.registry.loading import INPUT_ERRORS
from modelyard.serving import headers
from modelyard.serving.batching import MicroBatcher
from modelyard.serving.body import read_body
from modelyard.serving.inference_log import (
    InferenceLog,
    InferenceRecord,
    parse_feedback,
    request_id_from,
)
from modelyard.serving.inputs import ModelInput, parse_body
from modelyard.serving.metrics import CONTENT_TYPE, ServingMetrics
from modelyard.serving.models import Batching
from modelyard.serving.openapi import scoring_document
from modelyard.serving.outputs import RowMismatch, encode, split_rows, to_jsonable

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from modelyard.registry.loading import LoadedModel

log = logging.getLogger("modelyard.serving")


def _json_response(body: bytes, status: int = 200) -> Response:
    from starlette.responses import Response

    return Response(body, status_code=status, media_type="application/json")


def error_response(error: ModelyardError) -> Response:
    return _json_response(json.dumps({"error": error.to_dict()}).encode(), error.http_status)


def model_error(exc: BaseException) -> ModelyardError:
    """The error a client sees when the model raised ``exc`` on its input."""
    if isinstance(exc, ModelyardError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, INPUT_ERRORS):
        return UnprocessableInput(f"the model cannot predict on this input: {text}")
    log.error("the model failed: %s", text, exc_info=exc)
    return ModelyardError(f"the model failed: {text}")


def _concat(inputs: list[Any]) -> Any:
    import numpy as np
    import pandas as pd

    first = inputs[0]
    if isinstance(first, pd.DataFrame):
        columns = list(first.columns)
        if all(isinstance(i, pd.DataFrame) and list(i.columns) == columns for i in inputs):
            return pd.concat(inputs, ignore_index=True)
    elif all(isinstance(i, np.ndarray) for i in inputs):
        return np.concatenate(inputs)
    # Without a signature, requests may disagree on columns or kind: predict them apart.
    raise RowMismatch("the requests of this batch have different shapes")


class Scorer:
    """The model behind the app: loaded in the background, predicting in micro-batches."""

    def __init__(
        self,
        load: Callable[[], LoadedModel],
        metrics: ServingMetrics,
        *,
        batching: Batching,
        load_wait_s: float = 60.0,
        inference_log: InferenceLog | None = None,
    ) -> None:
        self._load = load
        self.inference_log = inference_log
        self.load_wait_s = load_wait_s
        self.loading: asyncio.Future[None] | None = None
        self.metrics = metrics
        self.model: LoadedModel | None = None
        self.load_error: str | None = None
        self.batcher: MicroBatcher[Any, Any] = MicroBatcher(
            self.predict_batch,
            batching=batching,
            observe=metrics.observe_batch,
        )

    def load(self) -> None:
        """Load the model (in a thread, at startup); a failure keeps /readyz at 503."""
        try:
            self.model = self._load()
        except Exception as exc:
            message = exc.message if isinstance(exc, ModelyardError) else f"{exc!r}"
            self.load_error = f"the model failed to load: {message}"
            log.error("%s", self.load_error, exc_info=exc)
        else:
            log.info("loaded %r", self.model)
            # Libraries and the model make up most of the heap and live as long as the
            # process: freezing them spares every full collection from walking them again.
            gc.collect()
            gc.freeze()

    def ready(self) -> LoadedModel:
        if self.model is not None:
            return self.model
        raise BackendUnavailable(self.load_error or "the model is still loading; retry shortly")

    async def wait_ready(self) -> LoadedModel:
        """The model; a request that arrives while it loads waits for it (up to a limit)
        rather than failing."""
        if self.model is None and self.loading is not None and not self.loading.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.loading), self.load_wait_s)
        return self.ready()

    def predict_batch(self, inputs: list[Any]) -> list[Any]:
        """One predict for checked inputs; each request's predictions, JSON-able."""
        model = self.ready().model
        # The inputs were checked against the signature one by one; the concatenation of
        # checked frames or arrays needs no second check.
        if len(inputs) == 1:
            return [to_jsonable(model.predict(inputs[0]))]
        predictions = to_jsonable(model.predict(_concat(inputs)))
        if not isinstance(predictions, list):
            raise RowMismatch("the model's answer is not one prediction per row")
        return split_rows(predictions, [len(i) for i in inputs])

    async def invoke(self, request: Request) -> Response:
        started = time.perf_counter()
        # The error's code, not the error: a local holding the exception would make a
        # cycle with its traceback (which holds this frame), freed only by a full collection.
        error_code: str | None = None
        request_id = ""
        parsed: ModelInput | None = None
        predictions: Any = None
        try:
            request_id = request_id_from(request.headers.get(headers.REQUEST_ID))
            model = await self.wait_ready()
            with self.batcher.arriving():
                # The body is parsed and dropped here: it is not held while the model predicts.
                parsed = parse_body(
                    await read_body(request), request.headers.get("content-type"), model.signature
                )
                try:
                    checked = parsed.data if parsed.checked else model.check(parsed.data)
                except InvalidInput as exc:
                    raise UnprocessableInput(exc.message, details=exc.details) from exc
                future = self.batcher.enqueue(checked, parsed.rows)
            try:
                predictions = await future
            except Exception as exc:
                raise model_error(exc) from exc
            response = _json_response(encode(predictions))
        except ModelyardError as exc:
            error_code = exc.code
            response = error_response(exc)
        seconds = time.perf_counter() - started
        self.metrics.observe_request(response.status_code, seconds, error_code)
        # A refused X-Request-Id still gets an id, so every answer carries one.
        response.headers[headers.REQUEST_ID] = request_id or uuid.uuid4().hex
        if self.inference_log is not None and self.inference_log.sampled():
            self.inference_log.record(
                InferenceRecord(
                    request_id=request_id or response.headers[headers.REQUEST_ID],
                    timestamp_ms=int((time.time() - seconds) * 1000),
                    latency_ms=seconds * 1000,
                    status=response.status_code,
                    mirrored=request.headers.get(headers.MIRROR) == "1",
                    inputs=None if parsed is None else parsed.data,
                    outputs=predictions,
                )
            )
        return response

    async def feedback(self, request: Request) -> Response:
        """Record the ground truth of earlier requests, by their request ids."""
        inference_log = self.inference_log
        if inference_log is None:
            return error_response(
                NotFound("this scoring server keeps no inference log to record feedback in")
            )
        try:
            pairs = parse_feedback(await read_body(request))
        except ModelyardError as exc:
            return error_response(exc)
        accepted = sum(inference_log.record_feedback(rid, truth) for rid, truth in pairs)
        if accepted < len(pairs):
            # Entries queue in order: the first `accepted` were taken; resending all is safe,
            # readers keep the latest ground truth per request id.
            return error_response(
                BackendUnavailable(
                    "the feedback queue is full; retry shortly",
                    details={"accepted": accepted, "dropped": len(pairs) - accepted},
                )
            )
        return _json_response(json.dumps({"accepted": accepted}).encode(), 202)


def create_app(
    load: Callable[[], LoadedModel],
    *,
    model: dict[str, str],
    batching: Batching | None = None,
    multiprocess_dir: Path | None = None,
    load_before_serving: bool = False,
    load_wait_s: float = 60.0,
    inference_log: Callable[[ServingMetrics], InferenceLog] | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> Starlette:
    """The scoring app; ``load`` returns the model and runs in a thread at startup.

    ``model`` labels the metrics (``name``, ``version``, ``uri``); ``multiprocess_dir`` is
    where the workers of one server write their metrics (None for a single process).

    The model loads in the background, so ``/healthz`` answers meanwhile and scoring
    requests wait for it (up to ``load_wait_s``). With ``load_before_serving`` the app's
    startup waits for the load instead: one of several workers sharing a port then takes
    no connection before it can answer it, and its siblings serve them meanwhile.

    ``inference_log`` builds the worker's inference log, reporting to the app's metrics;
    it starts with the app and writes what it holds when the app shuts down.

    A request body over ``max_request_bytes`` is refused with 413 before it is held whole.
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    metrics = ServingMetrics(model, multiprocess_dir=multiprocess_dir)
    scorer = Scorer(
        load,
        metrics,
        batching=batching if batching is not None else Batching(),
        load_wait_s=load_wait_s,
        inference_log=inference_log(metrics) if inference_log is not None else None,
    )

    async def healthz(_request: Request) -> Response:
        return _json_response(b'{"status":"ok"}')

    async def readyz(_request: Request) -> Response:
        try:
            scorer.ready()
        except ModelyardError as exc:
            return error_response(exc)
        return _json_response(b'{"status":"ready"}')

    documents: dict[bool, bytes] = {}

    async def openapi(_request: Request) -> Response:
        # The document follows the model's signature, so it waits for the model like a
        # scoring request; one that failed to load gets the document of an unsigned model.
        try:
            signature = (await scorer.wait_ready()).signature
        except ModelyardError:
            loaded, signature = False, None
        else:
            loaded = True
        if loaded not in documents:
            document = scoring_document(signature, model=model, max_request_bytes=max_request_bytes)
            documents[loaded] = json.dumps(document).encode()
        return _json_response(documents[loaded])

    async def metrics_text(_request: Request) -> Response:
        from starlette.responses import Response

        if scorer.inference_log is not None:
            for stream, stats in scorer.inference_log.stats().items():
                metrics.log_queue_depth(stream, stats.queued)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.get_running_loop().run_in_executor(None, scorer.load)
        scorer.loading = loading
        if scorer.inference_log is not None:
            scorer.inference_log.start()
        if load_before_serving:
            await loading
        try:
            yield
        finally:
            await scorer.batcher.close()
            await loading
            if scorer.inference_log is not None:
                # Writing the last rows may take a moment (S3): off the event loop.
                await asyncio.get_running_loop().run_in_executor(None, scorer.inference_log.close)

    app = Starlette(
        routes=[
            Route("/invocations", scorer.invoke, methods=["POST"]),
            Route("/feedback", scorer.feedback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            # MLflow's names for readiness, for drop-in compatibility.
            Route("/ping", readyz, methods=["GET"]),
            Route("/health", readyz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=max_request_bytes)
    app.state.scorer = scorer
    return app
