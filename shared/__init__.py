"""What every Canopée service needs to talk to the others: the event contract, settings,
offices, bus and store plumbing, observability and HTTP building blocks."""
