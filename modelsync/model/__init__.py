"""Layer 2: pure values and their canonical bytes.

``objects`` (blob, tree, commit, tag, checkpoint manifest), ``metadata`` (the pydantic models
of what runs record), ``params`` (hyperparameters as JSON), ``segment`` (the columnar metric
format). Nothing here touches a file.
"""
