"""Use cases: each one a transaction-aware function over the store, the engine and the outbox."""
