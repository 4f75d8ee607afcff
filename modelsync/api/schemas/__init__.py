"""The API's request and response bodies (pydantic), one module per group of endpoints:
``repository`` (commits, files, diff, status, refs, session), ``runs`` (runs, metrics,
compare), ``checkpoints`` (tensors); ``numbers`` says how non-finite floats travel in JSON."""
