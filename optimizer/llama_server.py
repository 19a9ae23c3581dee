"""The child process that runs llama.cpp's own OpenAI-compatible server (``xllamacpp``) for ``--local-model``.

``python -m optimizer.llama_server MODEL.gguf PARALLEL CTX_PER_SLOT THREADS`` starts the server on
127.0.0.1 (a free port), prints ``ready <base URL>`` on one line of stdout, and serves until its stdin
closes: the parent closes it to stop the server, and a parent that dies closes it too, so the server
never outlives its run. llama.cpp's own log goes to stderr (the parent sends it to a file).

It is a process of its own so that the server's threads never compete with the run's event loop for
the interpreter, and so that stopping it is stopping a process.
"""

from __future__ import annotations

import sys


def serve(model: str, parallel: int, ctx_per_slot: int, threads: int) -> None:
    """Serve ``model`` until stdin closes."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_parallel = parallel
    params.n_ctx = ctx_per_slot * parallel  # llama.cpp splits the context evenly between the slots
    params.port = 0
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)
    print(f"ready {server.listening_address.rstrip('/')}", flush=True)
    try:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
    finally:
        del server  # stops the server's loop and frees the model


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    model, parallel, ctx, threads = args[0], int(args[1]), int(args[2]), int(args[3])
    try:
        serve(model, parallel, ctx, threads)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
