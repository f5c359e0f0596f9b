"""File formats that are linted as Python through an adapter: a notebook's code cells as one module,
positions and fixes mapped back. Pure adapters: they never import the engine. Kept import-light."""
