"""References for the 2-D maps (resa/eval/embedding_map.h) from scikit-learn: t-SNE's joint
probabilities, an exact t-SNE run (its final KL and the trustworthiness of its map), trustworthiness of
fixed maps, and PCA coordinates. The data: 4 Gaussian clusters of 60 points in 12 dimensions."""
import numpy as np
import torch
from scipy.spatial.distance import squareform
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.manifold._t_sne import _joint_probabilities
from sklearn.metrics import pairwise_distances

from fixture_io import save

rng = np.random.default_rng(0)
N_PER, K, D, PERPLEXITY = 60, 4, 12, 20.0
centers = rng.normal(0, 4.0, size=(K, D))
x = np.concatenate([centers[c] + rng.normal(0, 1.0, size=(N_PER, D)) for c in range(K)])
labels = np.repeat(np.arange(K), N_PER)

dist = pairwise_distances(x, squared=True).astype(np.float32)
p = squareform(_joint_probabilities(dist, PERPLEXITY, 0))

tsne = TSNE(n_components=2, perplexity=PERPLEXITY, init="pca", learning_rate="auto", method="exact",
            random_state=0, n_iter=1000)
y = tsne.fit_transform(x)
pca = PCA(n_components=2, svd_solver="full").fit_transform(x)
y_random = rng.normal(size=(x.shape[0], 2))

t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=torch.float64)
save("tsne", {"x": t(x), "labels": torch.tensor(labels, dtype=torch.int64), "p": t(p), "y_sklearn": t(y),
              "pca": t(pca), "y_random": t(y_random)},
     {"perplexity": PERPLEXITY, "kl_sklearn": float(tsne.kl_divergence_),
      "trust5_sklearn_map": float(trustworthiness(x, y, n_neighbors=5)),
      "trust5_pca": float(trustworthiness(x, pca, n_neighbors=5)),
      "trust10_random": float(trustworthiness(x, y_random, n_neighbors=10))})
