"""Train and score a small classifier on scikit-learn's bundled iris data."""
