"""Layer 4: the repository: objects as commits, trees and refs, the working tree and staging
area, revisions, diff, and maintenance (fsck, gc, reindex).

``repository.Repo`` is the façade every command and endpoint is a thin layer over.
"""
