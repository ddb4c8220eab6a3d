"""The sandboxed runtime: IR loader, contracts, sandbox, handlers, run store, approvals."""
