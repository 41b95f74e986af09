"""The simulated venue: adapter, matching book, journal."""
