"""The gateway's pure rules: what a posted body may contain (``intake``) and how fast an office may
post (``ratelimit``). No I/O here."""
