"""The closed-form fits behind the ``tfidf`` family: scikit-learn linear models turned into
one linear layer, ``logits = x @ W + b`` ([V, K] and [K]), per classifier and task.

A linear SVM's scores become probabilities by a logistic regression on the dev scores
(Platt scaling; a K x K map for several classes), which is linear again, so the calibrated
model is still one layer. NB scaling (Wang & Manning 2012, NBSVM) multiplies each feature by
its log-count ratio between the two sides of a binary decision before the fit; scaling the
learned weights the same way gives the same logits from the unscaled features, so that too
stays one layer. It applies to binary decisions: two classes, or each label of a multi-label task.
"""

from __future__ import annotations

import numpy as np

_CALIBRATION_C = 1e4  # the calibration map has a handful of parameters: barely regularise it
_CONSTANT_LOGIT = 10.0  # a label train always (or never) has: a sigmoid of about 1 (or 0)


_NB_ALPHA = 1.0  # add-one smoothing of the binarised feature counts


def linear_solution(
    classifier: str,
    x_train,
    y_train,
    x_dev,
    y_dev,
    c: float,
    k: int,
    task: str,
    warm: dict | None = None,
    nb: bool = False,
):
    """(W, b) of ``classifier`` (logreg | svm) for ``task`` (single_label | multi_label); ``warm``
    carries a fit from one C of a grid to the next (the caller's dict, one per training matrix);
    ``nb``: NB-scaled features for binary decisions."""
    warm = {} if warm is None else warm
    warm["nb"] = nb
    return _SOLVERS[(classifier, task)](x_train, y_train, x_dev, y_dev, c, k, warm)


def nb_ratio(x, y: np.ndarray) -> np.ndarray:
    """Log-count ratio r of each feature between y == 1 and y == 0 (binarised counts, smoothed)."""
    present = (x > 0).astype(np.float64)
    p = _NB_ALPHA + np.asarray(present[y == 1].sum(0)).ravel()
    q = _NB_ALPHA + np.asarray(present[y == 0].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def _scaled(x, r: np.ndarray | None):
    return x if r is None else x.multiply(r).tocsr()


def _logreg(c: float, binary: bool, warm: dict | None = None):
    from sklearn.linear_model import LogisticRegression

    # liblinear for two classes (fast on sparse rows); lbfgs fits the multinomial model, and
    # starting each C of the grid from the previous solution cuts its time about 3x
    if binary:
        return LogisticRegression(C=c, max_iter=2000, solver="liblinear", random_state=0)
    if warm is None:
        return LogisticRegression(C=c, max_iter=2000, random_state=0)
    model = warm.setdefault("multinomial", LogisticRegression(max_iter=2000, warm_start=True, random_state=0))
    return model.set_params(C=c)


def _as_softmax(coef: np.ndarray, intercept: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's (coef, intercept) as softmax logits over k classes (binary: class 0 at 0)."""
    if coef.shape[0] == 1 and k == 2:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return coef.T.astype(np.float64), intercept.astype(np.float64)


def _logreg_single(x_train, y_train, x_dev, y_dev, c, k, warm):
    r = nb_ratio(x_train, np.asarray(y_train)) if warm["nb"] and k == 2 else None
    model = _logreg(c, k == 2, warm).fit(_scaled(x_train, r), y_train)
    coef = np.zeros((k if k > 2 else 1, x_train.shape[1]))
    intercept = np.zeros(coef.shape[0])
    rows = model.classes_ if k > 2 else [0]
    coef[rows] = model.coef_ if r is None else model.coef_ * r
    intercept[rows] = model.intercept_
    return _as_softmax(coef, intercept, k)


def _per_label(fit_one, x_train, y_train, k):
    """W, b of one binary model per label; a label that is constant in train gets a constant logit."""
    weight, bias = np.zeros((x_train.shape[1], k)), np.zeros(k)
    for j in range(k):
        column = y_train[:, j]
        if column.min() == column.max():
            bias[j] = _CONSTANT_LOGIT if column[0] else -_CONSTANT_LOGIT
            continue
        weight[:, j], bias[j] = fit_one(x_train, column, j)
    return weight, bias


def _logreg_multi(x_train, y_train, x_dev, y_dev, c, k, warm):
    def one(x, y, _j):
        r = nb_ratio(x, y) if warm["nb"] else None
        model = _logreg(c, True).fit(_scaled(x, r), y)
        return model.coef_[0] if r is None else model.coef_[0] * r, model.intercept_[0]

    return _per_label(one, x_train, np.asarray(y_train), k)


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, a0) with calibrated logits = scores @ A.T + a0; identity when dev cannot fit it."""
    from sklearn.linear_model import LogisticRegression

    k = scores.shape[1]
    if len(np.unique(y)) < max(2, k):  # every class must be in dev to fit its row
        return np.eye(k), np.zeros(k)
    model = LogisticRegression(C=_CALIBRATION_C, max_iter=2000).fit(scores, y)
    return model.coef_, model.intercept_


def _svm(c: float):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=0, max_iter=5000)


def _svm_single(x_train, y_train, x_dev, y_dev, c, k, warm):
    r = nb_ratio(x_train, np.asarray(y_train)) if warm["nb"] and k == 2 else None
    svm = _svm(c).fit(_scaled(x_train, r), y_train)
    coef = svm.coef_ if r is None else svm.coef_ * r  # [1, V] for two classes, else [K, V]
    a, a0 = _platt(np.asarray(x_dev @ coef.T + svm.intercept_), np.asarray(y_dev))
    if k == 2:  # logit of class 1 = a * score + a0
        return _as_softmax(a @ coef, a @ svm.intercept_ + a0, 2)
    return (coef.T @ a.T).astype(np.float64), (svm.intercept_ @ a.T + a0).astype(np.float64)


def _svm_multi(x_train, y_train, x_dev, y_dev, c, k, warm):
    y_dev = np.asarray(y_dev)

    def one(x, y, j):
        r = nb_ratio(x, y) if warm["nb"] else None
        svm = _svm(c).fit(_scaled(x, r), y)
        coef = svm.coef_[0] if r is None else svm.coef_[0] * r
        a, a0 = _platt(np.asarray(x_dev @ coef + svm.intercept_[0])[:, None], y_dev[:, j])
        return a[0, 0] * coef, a[0, 0] * svm.intercept_[0] + a0[0]

    return _per_label(one, x_train, np.asarray(y_train), k)


_SOLVERS = {
    ("logreg", "single_label"): _logreg_single,
    ("logreg", "multi_label"): _logreg_multi,
    ("svm", "single_label"): _svm_single,
    ("svm", "multi_label"): _svm_multi,
}
