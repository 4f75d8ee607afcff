"""Layer 6: what users do with runs: the run itself (``run``), starting, resuming and forking
it (``start``), the active run that module-level ``modelsync.log`` acts on (``active``), the
process hooks that end open runs at exit (``lifecycle``), ``@track`` (``decorator``), metric
logging (``buffer`` on the training thread, ``writer`` in the background), the environment,
datasets and seeds they record, and reading them back (``read``, ``compare``, ``series``).
"""
