"""fenlei: train, compare, explain and serve text classifiers."""

__version__ = "0.1.0"
