"""Demo and test tools: simulated courses, runs and races, replays, ETA backtests."""
