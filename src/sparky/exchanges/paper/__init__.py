"""The simulated venue: adapter, matching book, rules, journal."""
