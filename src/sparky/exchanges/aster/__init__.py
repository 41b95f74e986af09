"""Aster futures (v1 REST, HMAC): adapter, signing and clock, reply parsing, symbol rules."""
