"""Backends: one folder per adapter, each with the same shape (store, repositories, …)."""
