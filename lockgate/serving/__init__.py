"""The model-serving runtime that ``uses: lockgate/package`` puts into a model image.

Standard library only (``http.server``); the model loader imports torch when the model needs it.
``python3 -m lockgate.serving --model DIR`` serves ``/ping``, ``/invocations`` (and ``/predict``)
and Prometheus ``/metrics`` on port 8080, and drains in-flight requests on SIGTERM.
"""
