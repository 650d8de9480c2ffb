"""Reference values for resa/eval (kNN, silhouette, adjusted Rand index) from scikit-learn and NumPy.

Run: /usr/bin/python3 tests/scripts/gen_cluster.py
"""
import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score, silhouette_samples
from sklearn.neighbors import KNeighborsClassifier

from fixture_io import save

rng = np.random.default_rng(0)


def T(a):
    a = np.asarray(a)
    return torch.tensor(a, dtype=torch.int64 if a.dtype.kind in "iu" else torch.float64)


# ---- kNN: k=5 Euclidean majority vote (scikit-learn), weighted cosine kNN (NumPy) ----
n_train, n_test, d, C = 150, 97, 6, 4
centers = rng.normal(size=(C, d)) * 0.4  # overlapping classes, so 5-vote ties occur
ytr = rng.integers(0, C, n_train)
xtr = centers[ytr] + rng.normal(size=(n_train, d))
yte = rng.integers(0, C, n_test)
xte = centers[yte] + rng.normal(size=(n_test, d))
clf = KNeighborsClassifier(n_neighbors=5, algorithm="brute", metric="euclidean").fit(xtr, ytr)
pred = clf.predict(xte)
# Count the vote ties the fixture exercises (two or more labels with the top count among the 5).
nb = clf.kneighbors(xte, return_distance=False)
ties = sum(1 for row in ytr[nb] if sorted(np.bincount(row, minlength=C))[-1] == sorted(np.bincount(row, minlength=C))[-2])


def weighted_knn(xtr, ytr, xte, k, temp, C):
    a = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    b = xte / np.linalg.norm(xte, axis=1, keepdims=True)
    sim = b @ a.T
    out = []
    for row in sim:
        nn = np.argsort(-row, kind="stable")[:k]
        votes = np.zeros(C)
        np.add.at(votes, ytr[nn], np.exp(row[nn] / temp))
        out.append(np.argsort(-votes, kind="stable")[: min(5, C)])
    return np.array(out)


wk = {}
for k, temp in [(20, 0.1), (200, 0.1), (7, 0.5)]:
    kk = min(k, n_train)
    wk[f"wknn_k{k}"] = T(weighted_knn(xtr, ytr, xte, kk, temp, C))
save("cluster_knn", {"xtr": T(xtr), "ytr": T(ytr), "xte": T(xte), "yte": T(yte), "pred_k5": T(pred), **wk},
     {"vote_ties": int(ties), "wknn": [{"name": f"wknn_k{k}", "k": min(k, n_train), "T": t} for k, t in [(20, 0.1), (200, 0.1), (7, 0.5)]]})
print("kNN vote ties in fixture:", ties)

# ---- silhouette (Euclidean and cosine) and ARI ----
n, d, C = 120, 5, 4
centers = rng.normal(size=(C, d)) * 2.0
lab = rng.integers(0, C, n)
x = centers[lab] + rng.normal(size=(n, d))
lab[:3] = [7, 7, 7]  # labels need not be 0..C-1
lab[3] = 11          # a singleton cluster: silhouette 0 by definition
t = {"x": T(x), "labels": T(lab)}
for metric in ["euclidean", "cosine"]:
    t["sil_" + metric] = T(silhouette_samples(x, lab, metric=metric))
a = rng.integers(0, 5, 200)
b = a.copy()
flip = rng.random(200) < 0.3
b[flip] = rng.integers(0, 6, flip.sum()) + 10
t["ari_a"], t["ari_b"] = T(a), T(b)
t["ari"] = T(np.array([adjusted_rand_score(a, b)]))
c = rng.integers(0, 3, 200)
t["ari_c"] = T(c)
t["ari_ac"] = T(np.array([adjusted_rand_score(a, c)]))
save("cluster_metrics", t, {})
