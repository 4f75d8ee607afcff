"""scikit-learn: every fit becomes a versioned, comparable, safely reloadable commit.

Wrap an estimator, or turn on autolog::

    from modelsync.integrations.sklearn import Tracked, autolog, load

    model = Tracked(LogisticRegression(), eval_sets={"valid": (X_valid, y_valid)})
    model.fit(X, y)                       # a run: params, data fingerprints, scores, the model
    same = load(model.run_name_)          # the fitted estimator, read back with skops

    autolog()                             # every top-level fit of existing code is a run
    GridSearchCV(SVC(), grid, n_jobs=2).fit(X, y)   # + cv_results_ and a child run per candidate

Tracking never breaks training: a failure is a ``TrackingWarning`` (``strict=True`` raises).
Models are written after ``fit`` returns, on a background thread; ``flush()`` waits for them.
"""

from ._autolog import autolog
from ._estimator import Tracked
from ._fit import flush
from ._models import load
from ._search import load_cv_results

__all__ = ["Tracked", "autolog", "flush", "load", "load_cv_results"]
