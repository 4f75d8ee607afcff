"""Layer 2: pure values and their canonical bytes.

``objects`` (blob, tree, commit, tag, checkpoint manifest), ``metadata`` (the pydantic models
of what runs record), ``params`` (hyperparameters as JSON), ``layout`` (the names of refs, run
branches and labels, and the files of a run commit), ``segment`` (the columnar metric format).
Nothing here touches a file.
"""
