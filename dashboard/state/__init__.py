"""The app's state and caches, one owner a concern; nothing here draws on a page. Every
st.cache_* wrapper lives here, keyed by small hashable values (run id, cache root, parameters),
big objects cached as resources; pages and ui/ never cache on their own.

    session    the picked run and the cache root
    resources  what a run loads once: RunSampler (model, z-points, index, statistics), images, ...
    maps       the 2-D map (UMAP, or the PCA plane until it exists) and projection planes
    batches    the batch being explored (BatchSpec) with its faces, diagnostics and place on the map
    jobs       background jobs and run status (demo run, derivation, picker states, quality rows)

Imports run one way: batches -> maps -> resources; jobs and session stand alone."""
