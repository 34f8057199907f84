"""Pure domain logic: value objects and the functions that turn a day's articles into an edition.

Nothing here reads the clock, the config file, the database or the network.
"""
