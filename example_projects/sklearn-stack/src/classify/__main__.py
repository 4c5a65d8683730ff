"""Entry point of app-classify: fit a model, print its accuracy and where each library came from."""

from __future__ import annotations

import sys

import stackinfo
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def main() -> None:
    """Fit a logistic regression on iris and print the held-out accuracy."""
    features, labels = load_iris(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.3, random_state=0, stratify=labels
    )
    model = LogisticRegression(max_iter=500).fit(train_x, train_y)
    print(f"iris accuracy: {model.score(test_x, test_y):.3f}")
    layers = stackinfo.report("numpy", "scipy", "sklearn")
    if "--layers" not in sys.argv:
        for name, layer in layers.items():
            print(f"  {name:8} from {layer}")


main()
