"""The operator tools behind the ``canopee`` command (tools/cli.py): run a service, check events
against the contract, provision topics, import an office's CSV export, simulate traffic, inspect
and replay dead letters, catch the demo's mail. The services import nothing from here."""
