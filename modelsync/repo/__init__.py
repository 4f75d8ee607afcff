"""Layer 4: the repository: objects as commits, trees and refs, the working tree and staging
area, revisions, diff, and maintenance (fsck, gc, reindex).

``repository.Repo`` is the façade every command and endpoint is a thin layer over: its plumbing
(objects, trees, commits, refs) lives there, the working-tree commands (add, rm, status, commit,
diff, checkout, reset) in ``porcelain``, the walk over every ref tip in ``history``, and keeping
the catalog in step with the refs in ``catalogsync``.
"""
