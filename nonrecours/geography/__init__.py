"""The geography of France the package draws and simulates on: département outlines and names (shipped data).

A neutral layer: the simulator places its territories inside the outlines and the report draws its
maps over them, without either importing the other (:mod:`~nonrecours.geography.basemap`).
"""
