"""The territorial data hub: harvest, validate, catalogue and deliver a territory's data."""

__version__ = "0.1.0"
