"""Pure, synchronous analytics rules: facts folded from events, periods, indicators."""
