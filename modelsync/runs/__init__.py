"""Layer 6: what users do with runs: start, resume and fork them (``run``), ``@track``
(``decorator``), metric logging (``buffer`` on the training thread, ``writer`` in the
background), the environment, datasets and seeds they record, and reading them back (``read``,
``compare``, ``series``).
"""
