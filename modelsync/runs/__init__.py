"""Layer 6: what users do with runs: start, resume and fork them (``run``), ``@track``
(``decorator``), metric logging (``writer``), the environment, datasets and seeds they record,
and reading them back (``read``, ``compare``, ``series``).
"""
