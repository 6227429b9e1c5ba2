"""Test doubles that ship with hostlink, so tests, benches and users' own tests can share them.

``faulty_link``: a Link that drops, corrupts, delays and reorders bytes on a seeded schedule.
``synth_models``: small INT8 TFLite models built in memory (the flatbuffer object API), for tests
that need a real model without a file. Nothing in hostlink itself imports this package.
"""
