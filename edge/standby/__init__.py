"""An active/standby pair of edges on one PostgreSQL store: the lease, the standby's serving, the takeover."""
