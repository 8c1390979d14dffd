"""otobot: farms Binance Alpha volume with OTO order pairs for many users, crash-safe."""

__version__ = "0.1.0"
