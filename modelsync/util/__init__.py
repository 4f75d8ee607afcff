"""Layer 1: standard-library helpers with no knowledge of repositories.

``hashing`` (object ids), ``fileio`` (atomic writes, directory fsync, lock files), ``owner``
(whether the process that left a file behind still runs), ``optional`` (libraries used only
when the program already loaded them).
"""
