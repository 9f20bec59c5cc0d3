"""Where requests go: the ``Endpoint`` value and the ways to get one (connect, start the local server,
``modal serve``, ``vllm serve``, or ``open_endpoint`` from a notebook's backend parameter)."""
